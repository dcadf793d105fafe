"""``regional-lstm train``: plan on the driver, fit on Ray workers, save the best, evaluate."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from regional_lstm.config import Config
from regional_lstm.distributed.cluster import ray_session
from regional_lstm.pipeline.fitting import (
    fit_and_save,
    guard_resume,
    register_if_asked,
    tracked_run,
)
from regional_lstm.pipeline.layout import RAY_DIR
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.results import Evaluation, evaluate_project
from regional_lstm.tracking.models import log_model
from regional_lstm.tracking.runs import TrackedRun, closing, log_results, logging_to
from regional_lstm.training.plan import TrainingPlan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOutcome:
    """What a training run produced and where it is recorded."""

    model_path: Path
    state: dict
    evaluation: Evaluation
    run: TrackedRun
    model_uri: str
    registered_version: str | None


def train(
    config: Config,
    *,
    restart: bool = False,
    parent: TrackedRun | None = None,
) -> TrainOutcome:
    """Train and evaluate, tracked in MLflow; relaunching with the same PROJECT_DIR resumes."""
    plan = make_plan(config)
    ray_dir = config.PROJECT_DIR / RAY_DIR
    if restart and ray_dir.exists():
        shutil.rmtree(ray_dir)
    guard_resume(config, ray_dir)
    tracked = tracked_run(config, plan, ray_dir, parent)
    with closing(tracked):
        outcome = _train_tracked(config, plan, tracked)
    return outcome


def _train_tracked(config: Config, plan: TrainingPlan, tracked: TrackedRun) -> TrainOutcome:
    with ray_session(config.RAY_ADDRESS):
        model_path, state = fit_and_save(config, plan, tracked)
        evaluation = evaluate_project(config.PROJECT_DIR)  # its workers reuse this Ray
    kept = f"training finished and its outputs are complete in {config.PROJECT_DIR}"
    with logging_to(tracked, "the results and the model", kept):
        log_results(tracked, evaluation.summary, evaluation.results_dir)
        model_uri = log_model(tracked, model_path)
        version = register_if_asked(config, tracked, model_uri)
    logger.info(f"MLflow run {tracked.run_id} in {tracked.uri}")
    return TrainOutcome(model_path, state, evaluation, tracked, model_uri, version)
