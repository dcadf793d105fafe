"""``regional-lstm transfer``: carry a donor model to other basins, zero-shot or fine-tuned.

Zero-shot predicts the target basins from their forcings and attributes alone, with the donor's
normalisation (never refitted on them). With LSTM_FINETUNE the donor's weights are trained
further on the target basins' calibration period (some parts optionally frozen) and both are
scored on VALIDATION_PERIOD beside a day-of-year climatology of each basin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from regional_lstm.artifacts import load_model
from regional_lstm.atomic import write_text
from regional_lstm.config import Config
from regional_lstm.data.normalize import require_complete_attributes
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.scan import window_statistics
from regional_lstm.distributed.cluster import ray_session
from regional_lstm.errors import ConfigError
from regional_lstm.evaluation.baselines import climatology
from regional_lstm.evaluation.metrics import kge, nse
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.models import build_model, freeze
from regional_lstm.pipeline.donors import Donor, attribute_range_report, load_donor
from regional_lstm.pipeline.fitting import fit_and_save, guard_resume, register_if_asked
from regional_lstm.pipeline.layout import RAY_DIR, RESULTS_DIR
from regional_lstm.pipeline.planning import (
    check_period_in_store,
    schedule,
    warn_unpredictable_basins,
)
from regional_lstm.pipeline.results import Evaluation, log_evaluation, write_results
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.tracking.models import log_model
from regional_lstm.tracking.runs import TrackedRun, closing, fingerprint, log_results, start_run
from regional_lstm.tracking.store import tracking_uri
from regional_lstm.training.plan import TrainingPlan

logger = logging.getLogger(__name__)

FINETUNE_EPOCHS = 5  # fine-tuning epochs when the config does not set LSTM_EPOCHS


@dataclass(frozen=True)
class TransferOutcome:
    """Zero-shot (and fine-tuned) scores of the target basins and the MLflow run."""

    zero_shot: Evaluation
    fine_tuned: Evaluation | None
    out_of_range: dict[str, list[str]]
    run: TrackedRun
    registered_version: str | None


def transfer(config: Config) -> TransferOutcome:
    """Predict the config's basins with the donor LSTM_PRETRAINED_MODEL; fine-tune if asked."""
    if config.LSTM_PRETRAINED_MODEL is None:
        raise ConfigError(
            "transfer needs LSTM_PRETRAINED_MODEL: a models:/NAME@ALIAS reference, a "
            "best_model.pt or an ensemble folder"
        )
    ensure_store(config)
    uri = tracking_uri(config)
    donor = load_donor(config.LSTM_PRETRAINED_MODEL, uri, config.PROJECT_DIR / "donor")
    reader = StoreReader(config.store)
    basins = config.basin_ids() or list(reader.basins)
    out_of_range = check_target(config, donor, reader, basins)
    periods = {"evaluation_period": str(config.VALIDATION_PERIOD)}
    tracked = start_run(
        config,
        "transfer",
        data_fingerprint=fingerprint(config.store, basins, periods),
    )
    tracked.set_tags(donor.lineage)
    with closing(tracked):
        outcome = _transfer_tracked(config, donor, reader, basins, tracked, out_of_range)
    return outcome


def check_target(
    config: Config, donor: Donor, reader: StoreReader, basins: list[str]
) -> dict[str, list[str]]:
    """The target store must hold the donor's inputs; attributes outside its range warn."""
    card = donor.card
    for key, ours, theirs in (
        ("DYNAMIC_INPUTS", config.DYNAMIC_INPUTS, card.data.dynamic),
        ("STATIC_ATTRIBUTES", config.STATIC_ATTRIBUTES, card.data.static),
    ):
        if list(ours) != list(theirs):
            raise ConfigError(
                f"{key} {list(ours)} differ from the donor's {list(theirs)} "
                f"({config.LSTM_PRETRAINED_MODEL})"
            )
    reader.positions(basins)
    missing = [name for name in card.data.static if name not in reader.dims]
    if missing:
        raise ConfigError(
            f"{reader.path}: the donor needs static attribute(s) {', '.join(missing)}, which "
            "this store lacks"
        )
    reader.require(card.data.dynamic, ("basin", "time"), "dynamic input")
    reader.require(card.data.static, ("basin",), "static attribute")
    require_complete_attributes(reader, basins, card.data.static)
    reader.require(card.data.targets[:1], ("basin", "time"), "target")
    for key in ("CALIBRATION_PERIOD", "VALIDATION_PERIOD"):
        check_period_in_store(reader, key, getattr(config, key))
    warn_unpredictable_basins(reader, basins, config.VALIDATION_PERIOD, card.data)
    outside = attribute_range_report(card, reader, basins)
    if outside:
        names = sorted({name for found in outside.values() for name in found})
        shown = ", ".join(f"{b} ({', '.join(a)})" for b, a in list(outside.items())[:10])
        more = f" and {len(outside) - 10} more" if len(outside) > 10 else ""
        logger.warning(
            f"{len(outside)} target basin(s) have attributes outside the donor's "
            f"training range ({', '.join(names)}): {shown}{more}"
        )
    return outside


def _transfer_tracked(config, donor, reader, basins, tracked, out_of_range):
    period = config.VALIDATION_PERIOD
    baseline = _climatology_scores(reader, basins, config)
    zero_shot = write_results(
        config.PROJECT_DIR / RESULTS_DIR / "zero_shot",
        reader,
        donor.predict(reader, basins, period),
        statistic=donor.statistic,
        extra=baseline,
        lookback=donor.card.data.lookback,
    )
    log_evaluation(zero_shot, f"Zero-shot {period}")
    log_results(tracked, _with_baseline(zero_shot), zero_shot.results_dir, prefix="zero_shot_")
    fine_tuned, version = None, None
    if config.LSTM_FINETUNE:
        fine_tuned, version = _fine_tune(config, donor, reader, basins, tracked)
        table = fine_tuned.metrics.join(baseline)
        fine_tuned = replace(fine_tuned, metrics=table)
        log_results(tracked, fine_tuned.summary, fine_tuned.results_dir, prefix="fine_tuned_")
        _compare(zero_shot, fine_tuned, config.PROJECT_DIR / RESULTS_DIR)
    logger.info(f"MLflow run {tracked.run_id} in {tracked.uri}")
    return TransferOutcome(zero_shot, fine_tuned, out_of_range, tracked, version)


def _climatology_scores(reader, basins, config: Config) -> pd.DataFrame:
    """NSE and KGE of each basin's own calibration-period day-of-year mean (a reference)."""
    reference = climatology(reader, basins, config.CALIBRATION_PERIOD, config.VALIDATION_PERIOD)
    times = reader.time_slice(config.VALIDATION_PERIOD.start, config.VALIDATION_PERIOD.end)
    observed = reader.read_dynamic(basins, ["streamflow"], times)[:, :, 0]
    rows = {
        basin: {
            "NSE_climatology": nse(observed[i], reference[basin].to_numpy()),
            "KGE_climatology": kge(observed[i], reference[basin].to_numpy()),
        }
        for i, basin in enumerate(basins)
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "basin"
    return table


def _with_baseline(evaluation: Evaluation) -> dict[str, float]:
    return evaluation.summary | {
        "nse_climatology_median": float(evaluation.metrics["NSE_climatology"].median())
    }


def _fine_tune(config, donor: Donor, reader, basins, tracked) -> tuple[Evaluation, str | None]:
    """Train the donor's weights further on the target basins; save, evaluate, log, register."""
    if len(donor.members) != 1:
        raise ConfigError(
            "LSTM_FINETUNE needs a single donor model; fine-tune ensemble members one by one"
        )
    plan = finetune_plan(config, donor, reader, basins)
    guard_resume(config, config.PROJECT_DIR / RAY_DIR)
    logger.info(
        f"Fine-tuning on {len(basins)} basin(s) for {plan.epochs} epoch(s)"
        + (f", frozen: {', '.join(plan.frozen)}" if plan.frozen else "")
    )
    with ray_session(config.RAY_ADDRESS):
        model_path, _ = fit_and_save(config, plan, tracked, run_name="finetune")
    model, card = load_model(model_path)
    predictions = predict_period(model, card, reader, basins, config.VALIDATION_PERIOD)
    evaluation = write_results(
        config.PROJECT_DIR / RESULTS_DIR / "fine_tuned",
        reader,
        [predictions],
        lookback=card.data.lookback,
    )
    log_evaluation(evaluation, f"Fine-tuned {config.VALIDATION_PERIOD}")
    model_uri = log_model(tracked, model_path)
    return evaluation, register_if_asked(config, tracked, model_uri)


def finetune_plan(
    config: Config, donor: Donor, reader: StoreReader, basins: list[str]
) -> TrainingPlan:
    """The donor's model, inputs and normalisation; the target's basins, periods and schedule."""
    _, card = donor.members[0]
    frozen = tuple(config.LSTM_FREEZE)
    try:
        freeze(build_model(card.model), frozen)
    except ValueError as error:
        raise ConfigError(f"LSTM_FREEZE: {error}") from None
    windows = window_statistics(
        reader,
        basins,
        config.train_period,
        card.data,
        card.normalization,
        last_n=int(config.LSTM_PREDICT_LAST_N),
    )
    if not any(windows.counts.values()):
        raise ConfigError(
            f"no fine-tuning windows: no target basin has observations in {config.train_period}"
        )
    epochs = config.LSTM_EPOCHS if "LSTM_EPOCHS" in config.model_fields_set else FINETUNE_EPOCHS
    return TrainingPlan(
        store=config.store,
        basins=basins,
        data=card.data,
        model=card.model,
        norm=card.normalization,
        counts=windows.counts,
        target_std=windows.target_std,
        loss_weights=tuple(1.0 for _ in card.data.targets),
        initial_weights=str(donor.path),
        frozen=frozen,
        **(schedule(config) | {"epochs": int(epochs)}),
    )


def _compare(zero_shot: Evaluation, fine_tuned: Evaluation, results_dir: Path) -> None:
    """Per basin NSE/KGE before and after fine-tuning, and the climatology reference."""
    table = pd.DataFrame(
        {
            "NSE_zero_shot": zero_shot.metrics["NSE"],
            "NSE_fine_tuned": fine_tuned.metrics["NSE"],
            "KGE_zero_shot": zero_shot.metrics["KGE"],
            "KGE_fine_tuned": fine_tuned.metrics["KGE"],
            "NSE_climatology": zero_shot.metrics["NSE_climatology"],
        }
    )
    write_text(results_dir / "transfer_comparison.csv", table.to_csv(float_format="%.6g"))
    logger.info(
        f"Median NSE: zero-shot {table['NSE_zero_shot'].median():.3f}, fine-tuned "
        f"{table['NSE_fine_tuned'].median():.3f}, climatology "
        f"{table['NSE_climatology'].median():.3f}"
    )
