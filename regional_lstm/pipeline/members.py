"""Train several models at once on Ray (ensemble members, PUB folds), each its own MLflow run.

Every model is one Tune trial, so as many train concurrently as the cluster has room for (two
one-worker models on two cores); a one-worker model trains in its trial's process, a larger one
on a TorchTrainer of its own. Each keeps its files in its own
PROJECT_DIR: a relaunch skips finished models and resumes the others from their last epoch.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from regional_lstm.config import Config
from regional_lstm.distributed.cluster import ray_session, with_restarts
from regional_lstm.distributed.failures import run_checkpoint
from regional_lstm.distributed.tune import (
    grid_over,
    plan_resources,
    report_epoch,
    report_final,
    report_to_tune,
    run_sweep,
    trial_resources,
)
from regional_lstm.distributed.worker_errors import user_error
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.pipeline.fitting import (
    RUN_NAME,
    fit_and_save,
    guard_resume,
    tracked_run,
    use_gpu,
)
from regional_lstm.pipeline.layout import BEST_MODEL, RAY_DIR
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.tracking.models import log_model
from regional_lstm.tracking.runs import TrackedRun
from regional_lstm.training.plan import TrainingPlan

logger = logging.getLogger(__name__)

MEMBER = "member"


def train_all(
    configs: Mapping[str, Config],
    parent: TrackedRun,
    *,
    storage: Path,
    plans: Mapping[str, TrainingPlan] | None = None,
) -> dict[str, Path]:
    """Train each labelled config under ``parent``; returns label -> its best_model.pt.

    Plans are made (and configs checked) on the driver before anything starts, so a bad config
    fails at once rather than inside a trial.
    """
    # Every model logs to the parent's store, whatever its own PROJECT_DIR would default to.
    configs = {
        label: config.with_overrides(MLFLOW_TRACKING_URI=parent.uri)
        for label, config in configs.items()
    }
    plans = dict(plans or {label: make_plan(config) for label, config in configs.items()})
    models = {label: config.PROJECT_DIR / BEST_MODEL for label, config in configs.items()}
    # A model found on disk is reused only if it was trained from the same config (a PUB
    # fold with other basins would leak the held-out ones); the guard names what changed.
    for config in configs.values():
        guard_resume(config, config.PROJECT_DIR / RAY_DIR)
    todo = [label for label, path in models.items() if not path.is_file()]
    for label in models:
        if label not in todo:
            logger.info(f"{label}: trained already ({models[label]})")
    if not todo:
        return models
    num_workers = {configs[label].RAY_NUM_WORKERS for label in todo}
    if len(num_workers) != 1:
        raise RegionalLSTMError("models trained together need the same RAY_NUM_WORKERS")
    with ray_session(configs[todo[0]].RAY_ADDRESS, dashboard=True):
        workers = num_workers.pop()
        cpus_per_worker, concurrent = plan_resources(workers)
        logger.info(f"Training {len(todo)} model(s), {concurrent} at a time: {', '.join(todo)}")
        # Progress lives in each model's PROJECT_DIR; the Tune folder is only bookkeeping.
        shutil.rmtree(storage / MEMBER, ignore_errors=True)
        restarting = {k: with_restarts(configs[k]) for k in todo}
        results = run_sweep(
            _trial(restarting, {k: plans[k] for k in todo}, parent, cpus_per_worker),
            {MEMBER: grid_over(todo)},
            resources=trial_resources(workers, cpus_per_worker, use_gpu(restarting[todo[0]])),
            metric="best_score",
            num_samples=1,
            max_epochs=max(plans[k].epochs for k in todo),
            early_stop=False,
            max_concurrent=concurrent,
            seed=0,
            storage_path=storage,
            name=MEMBER,
            resume=False,
            retries=max(int(config.RAY_MAX_FAILURES or 0) for config in restarting.values()),
        )
    failed = [(r.config[MEMBER], r.error) for r in results if r.error is not None]
    if failed:
        label, error = failed[0]
        error = user_error(error) or error  # a worker's one line, not its traceback
        raise RegionalLSTMError(f"{len(failed)} model(s) failed to train; {label}: {error}")
    return models


def _trial(configs, plans, parent: TrackedRun, cpus_per_worker: float):
    """One model per trial, as a child run of ``parent``."""

    def trial(params: dict[str, Any]) -> None:
        label = params[MEMBER]
        config, plan = configs[label], plans[label]
        tracked = tracked_run(config, plan, config.PROJECT_DIR / RAY_DIR, parent)
        tracked.set_tags({"regional_lstm.member": label})
        fit_in_trial(config, plan, tracked, cpus_per_worker)

    return trial


def fit_in_trial(
    config: Config,
    plan: TrainingPlan,
    tracked: TrackedRun,
    cpus_per_worker: float,
    run_name: str = RUN_NAME,
) -> None:
    """Inside a Tune trial: fit reporting every epoch, log the model, close the run.

    A one-worker model trains in the trial's own process; a larger one on a Ray Train run of
    its own workers (`trial_resources` reserves for either).
    """
    done = run_checkpoint(config.PROJECT_DIR / RAY_DIR / run_name)
    if config.RAY_NUM_WORKERS == 1:
        trainer: dict[str, Any] = {"report": report_epoch}
    else:
        trainer = {"callbacks": [report_to_tune()], "cpus_per_worker": cpus_per_worker}
    model_path, state = fit_and_save(config, plan, tracked, run_name=run_name, **trainer)
    if done is not None and state["epoch"] == done[1]:  # restarted with its training finished
        report_final(state["history"][-1])
    tracked.set_tags({"regional_lstm.model_uri": log_model(tracked, model_path)})
    tracked.finish()
