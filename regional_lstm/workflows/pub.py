"""``regional-lstm pub``: prediction in ungauged basins by K-fold cross-validation over basins.

The Kratzert et al. (2019, WRR) protocol: split the basins into K folds; for each fold train on
the other K-1 (calibration period) and predict the held-out basins as if ungauged (evaluation
period, the fold model's own normalisation). Beside it, one gauged model trained on every basin
scores the same basins in-sample. All K + 1 models train concurrently as far as Ray allows, each
a child run of one MLflow parent run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regional_lstm.artifacts import load_model
from regional_lstm.atomic import write_text
from regional_lstm.config import Config
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError
from regional_lstm.evaluation.plots import plot_nse_cdf_comparison
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.pipeline.members import train_all
from regional_lstm.pipeline.results import Evaluation, log_evaluation, write_results
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.tracking.runs import TrackedRun, closing, fingerprint, log_results, start_run

logger = logging.getLogger(__name__)

GAUGED = "gauged"


@dataclass(frozen=True)
class PubOutcome:
    """Out-of-fold (ungauged) and gauged scores per basin, the folds, and the MLflow run."""

    folds: dict[str, int]
    ungauged: Evaluation
    gauged: Evaluation
    comparison: pd.DataFrame
    run: TrackedRun


def assign_folds(
    basins: Sequence[str], k: int, seed: int, strata: Sequence[float] | None = None
) -> dict[str, int]:
    """Basin -> fold 0..k-1, each basin in exactly one fold and fold sizes differing by <= 1.

    Without ``strata`` the basins are shuffled (seeded) and dealt round-robin. With strata
    (one value per basin, e.g. aridity) basins are sorted by it and each run of k neighbours is
    spread over the k folds in a seeded order, so every fold covers the attribute's range.
    """
    if not 2 <= k <= len(basins):
        raise ConfigError(f"PUB needs 2 <= folds <= the number of basins ({len(basins)}), got {k}")
    rng = np.random.default_rng(seed)
    if strata is None:
        order = rng.permutation(len(basins))
        return {basins[i]: position % k for position, i in enumerate(order)}
    values = np.asarray(strata, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    folds = {}
    for first in range(0, len(order), k):
        group = order[first : first + k]
        for i, fold in zip(group, rng.permutation(k)[: len(group)], strict=True):
            folds[basins[i]] = int(fold)
    return folds


def fold_configs(config: Config, folds: dict[str, int], k: int) -> dict[str, Config]:
    """A config per fold (training on the other folds' basins) and the gauged one (all)."""
    root = config.PROJECT_DIR / "pub"
    configs = {
        f"fold_{fold}": config.with_overrides(
            BASINS=[b for b, f in folds.items() if f != fold],
            PROJECT_DIR=root / f"fold_{fold}",
        )
        for fold in range(k)
    }
    configs[GAUGED] = config.with_overrides(BASINS=list(folds), PROJECT_DIR=root / GAUGED)
    return configs


def pub_configs(
    config: Config, reader: StoreReader, k: int
) -> tuple[dict[str, int], dict[str, Config]]:
    """The config's basins in ``k`` folds (stratified by PUB_STRATIFY) and the models' configs."""
    basins = config.basin_ids() or list(reader.basins)
    strata = None
    if config.PUB_STRATIFY is not None:
        reader.require([config.PUB_STRATIFY], ("basin",), "static attribute (PUB_STRATIFY)")
        strata = reader.read_static(basins, [config.PUB_STRATIFY])[:, 0]
    assignment = assign_folds(basins, k, config.SEED, strata)
    return assignment, fold_configs(config, assignment, k)


def pub(config: Config, *, folds: int | None = None) -> PubOutcome:
    """Run the K-fold PUB experiment the config describes (``folds`` overrides PUB_FOLDS)."""
    ensure_store(config)
    k = config.PUB_FOLDS if folds is None else folds
    reader = StoreReader(config.store)
    assignment, configs = pub_configs(config, reader, k)
    basins = list(assignment)
    periods = {
        "train_period": str(config.train_period),
        "evaluation_period": str(config.VALIDATION_PERIOD),
    }
    parent = start_run(config, "pub", data_fingerprint=fingerprint(config.store, basins, periods))
    parent.set_tags({"regional_lstm.pub_folds": str(k)})
    with closing(parent):
        outcome = _pub_tracked(config, configs, assignment, k, reader, parent)
    return outcome


def _pub_tracked(config, configs, assignment, k, reader, parent) -> PubOutcome:
    logger.info(f"PUB: {len(assignment)} basins in {k} folds, plus a gauged model on all of them")
    models = train_all(configs, parent, storage=config.PROJECT_DIR / "pub" / "ray")
    period = config.VALIDATION_PERIOD
    out_of_fold: dict[str, pd.DataFrame] = {}
    for fold in range(k):
        model, card = load_model(models[f"fold_{fold}"])
        held_out = [b for b, f in assignment.items() if f == fold]
        out_of_fold |= predict_period(model, card, reader, held_out, period)
    out_of_fold = {basin: out_of_fold[basin] for basin in assignment}
    model, card = load_model(models[GAUGED])
    in_sample = predict_period(model, card, reader, list(assignment), period)
    results = config.PROJECT_DIR / "pub" / "results"
    folds = pd.DataFrame({"fold": pd.Series(assignment)}).rename_axis("basin")
    ungauged = write_results(results / "ungauged", reader, [out_of_fold], extra=folds)
    gauged = write_results(results / GAUGED, reader, [in_sample], plots=False)
    log_evaluation(ungauged, f"PUB (out-of-fold) {period}")
    log_evaluation(gauged, f"Gauged (in-sample) {period}")
    comparison = pd.DataFrame(
        {
            "fold": folds["fold"],
            "NSE_pub": ungauged.metrics["NSE"],
            "NSE_gauged": gauged.metrics["NSE"],
            "KGE_pub": ungauged.metrics["KGE"],
            "KGE_gauged": gauged.metrics["KGE"],
        }
    )
    write_text(results / "pub_vs_gauged.csv", comparison.to_csv(float_format="%.6g"))
    plot_nse_cdf_comparison(
        results / "nse_cdf_pub_vs_gauged.png",
        {"PUB (out-of-fold)": comparison["NSE_pub"], "gauged": comparison["NSE_gauged"]},
    )
    log_results(parent, ungauged.summary, ungauged.results_dir, prefix="pub_")
    log_results(parent, gauged.summary, gauged.results_dir, prefix="gauged_")
    parent.log_artifact(results / "pub_vs_gauged.csv", "results")
    logger.info(
        f"Median NSE: PUB {comparison['NSE_pub'].median():.3f} vs gauged "
        f"{comparison['NSE_gauged'].median():.3f}; MLflow run {parent.run_id} in {parent.uri}"
    )
    return PubOutcome(assignment, ungauged, gauged, comparison, parent)
