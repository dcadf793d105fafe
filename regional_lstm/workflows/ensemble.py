"""``regional-lstm ensemble``: members that differ only by seed, combined into one model.

Members train concurrently on Ray (as far as its resources allow), each as a child MLflow run of
the ensemble's run. The ensemble's prediction is the members' mean (or median) with a 5-95 %
band; it is saved and logged as one model (its members' runs recorded) that loads and
transfers like any donor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from regional_lstm.artifacts import load_model, save_ensemble
from regional_lstm.config import Config
from regional_lstm.data.reader import StoreReader
from regional_lstm.distributed.predict import predict_members_distributed
from regional_lstm.errors import ConfigError
from regional_lstm.pipeline.fitting import register_if_asked
from regional_lstm.pipeline.layout import ENSEMBLE_DIR, RAY_DIR, RESULTS_DIR
from regional_lstm.pipeline.members import train_all
from regional_lstm.pipeline.results import Evaluation, log_evaluation, write_results
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.tracking.models import log_ensemble
from regional_lstm.tracking.runs import TrackedRun, closing, fingerprint, log_results, start_run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnsembleOutcome:
    """The ensemble's scores, its members' and where it was saved and logged."""

    evaluation: Evaluation
    members: dict[str, Evaluation]
    manifest: Path
    run: TrackedRun
    model_uri: str
    registered_version: str | None


def member_configs(config: Config) -> dict[str, Config]:
    """One config per seed, each with its own PROJECT_DIR under ``members/``."""
    seeds = config.ensemble_seeds()
    if len(seeds) < 2:
        raise ConfigError(
            "an ensemble needs at least 2 members: set LSTM_ENSEMBLE_SIZE >= 2 or list "
            "LSTM_ENSEMBLE_SEEDS"
        )
    return {
        f"seed_{seed}": config.with_overrides(
            SEED=seed, PROJECT_DIR=config.PROJECT_DIR / "members" / f"seed_{seed}"
        )
        for seed in seeds
    }


def ensemble(config: Config) -> EnsembleOutcome:
    """Train (or finish training) the members, evaluate them and the ensemble, log, register."""
    ensure_store(config)
    configs = member_configs(config)
    basins = config.basin_ids() or StoreReader(config.store).basins
    periods = {
        "train_period": str(config.train_period),
        "evaluation_period": str(config.VALIDATION_PERIOD),
    }
    parent = start_run(
        config,
        "ensemble",
        data_fingerprint=fingerprint(config.store, list(basins), periods),
    )
    with closing(parent):
        outcome = _ensemble_tracked(config, configs, parent)
    return outcome


def _ensemble_tracked(config, configs, parent: TrackedRun) -> EnsembleOutcome:
    models = train_all(configs, parent, storage=config.PROJECT_DIR / RAY_DIR)
    reader = StoreReader(config.store)
    period = config.VALIDATION_PERIOD
    loaded = {label: load_model(path) for label, path in models.items()}
    basins = next(iter(loaded.values()))[1].trained_basins
    members = predict_members_distributed(
        list(loaded.values()), reader, basins, period, address=config.RAY_ADDRESS
    )
    member_scores, member_runs = {}, []
    for (label, (_, card)), predictions in zip(loaded.items(), members, strict=True):
        member_scores[label] = write_results(
            configs[label].PROJECT_DIR / RESULTS_DIR, reader, [predictions], plots=False
        )
        log_evaluation(member_scores[label], f"Member {label}")
        run_id = card.training.get("mlflow_run_id")
        member_runs.append(str(run_id or ""))
        if run_id:
            member_run = TrackedRun(parent.uri, run_id)
            log_results(member_run, member_scores[label].summary, member_scores[label].results_dir)
    statistic = config.LSTM_ENSEMBLE_STATISTIC
    evaluation = write_results(
        config.PROJECT_DIR / RESULTS_DIR, reader, members, statistic=statistic
    )
    log_evaluation(evaluation, f"Ensemble of {len(members)} ({statistic}) {period}")
    manifest = save_ensemble(
        config.PROJECT_DIR / ENSEMBLE_DIR,
        list(models.values()),
        {
            "statistic": statistic,
            "seeds": config.ensemble_seeds(),
            "member_runs": member_runs,
        },
    )
    log_results(parent, evaluation.summary, evaluation.results_dir)
    # The registered version points at this run, and this run at its members' runs.
    parent.set_tags({"regional_lstm.member_runs": ",".join(member_runs)})
    model_uri = log_ensemble(parent, manifest.parent)
    version = register_if_asked(config, parent, model_uri)
    logger.info(f"Ensemble saved to {manifest}; MLflow run {parent.run_id} in {parent.uri}")
    return EnsembleOutcome(evaluation, member_scores, manifest, parent, model_uri, version)
