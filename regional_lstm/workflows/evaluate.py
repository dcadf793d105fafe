"""``regional-lstm evaluate``: re-evaluate a saved model as its own MLflow run."""

from __future__ import annotations

import logging
from pathlib import Path

from regional_lstm.artifacts import load_members
from regional_lstm.config import Config
from regional_lstm.config_periods import Period
from regional_lstm.pipeline.layout import project_model
from regional_lstm.pipeline.results import Evaluation, evaluate_project
from regional_lstm.tracking.runs import closing, fingerprint, log_results, start_run

logger = logging.getLogger(__name__)


def evaluate_tracked(
    project_dir: str | Path,
    *,
    period: Period | str | None = None,
    plots: bool = True,
    mc_dropout: int | None = None,
    mode: str | None = None,
    withhold_readings: bool = False,
) -> Evaluation:
    """``regional-lstm evaluate``: evaluate a saved model as its own MLflow run.

    ``period`` defaults to the model's VALIDATION_PERIOD; text such as ``"2005,2010"`` or
    ``"2005-10-01,2010-09-30"`` is parsed as in the config. ``withhold_readings`` scores a model
    with lagged streamflow as if no reading existed (every basin ungauged).
    """
    period = Period.option(period)
    project_dir = Path(project_dir).absolute()
    saved = project_model(project_dir)
    members, _ = load_members(saved)
    card = members[0][1]
    config = Config.from_mapping(card.config, source=str(saved))
    period = period or config.VALIDATION_PERIOD
    data = fingerprint(config.store, card.trained_basins, {"evaluation_period": str(period)})
    tracked = start_run(config, "evaluate", data_fingerprint=data)
    source = card.training.get("mlflow_run_id")
    if source:
        tracked.set_tags({"regional_lstm.trained_in_run": source})
    if withhold_readings:
        tracked.set_tags({"regional_lstm.readings": "withheld"})
    with closing(tracked):
        evaluation = evaluate_project(
            project_dir,
            period=period,
            plots=plots,
            mc_dropout=mc_dropout,
            mode=mode,
            withhold_readings=withhold_readings,
        )
        log_results(tracked, evaluation.summary, evaluation.results_dir)
    logger.info(f"MLflow run {tracked.run_id} in {tracked.uri}")
    return evaluation
