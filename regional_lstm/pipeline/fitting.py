"""Fitting a plan on Ray Train (or in a one-worker Tune trial's own process) and saving the best
model, shared by train, tune, transfer and the many-model workflows; with the MLflow run a
training records and the resume guard."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter

from regional_lstm.accelerator import check_precision
from regional_lstm.artifacts import ModelCard, save_model
from regional_lstm.atomic import write_text
from regional_lstm.config import Config
from regional_lstm.distributed.cluster import cluster_has_gpu, max_failures
from regional_lstm.distributed.train import train_here, train_on_ray
from regional_lstm.errors import ConfigError
from regional_lstm.pipeline.layout import BEST_MODEL, RAY_DIR, TRAIN_LOG
from regional_lstm.tracking.models import register
from regional_lstm.tracking.runs import TrackedRun, fingerprint, reopen, start_run
from regional_lstm.tracking.store import tracking_uri
from regional_lstm.training.checkpoint import read_checkpoint
from regional_lstm.training.plan import TrainingPlan

logger = logging.getLogger(__name__)

RUN_NAME = "train"
# Keys that may change between a killed run and its relaunch without changing what is trained.
RESUMABLE_CHANGES = {
    "RAY_ADDRESS",
    "RAY_NUM_WORKERS",
    "RAY_USE_GPU",
    "RAY_MAX_FAILURES",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_REGISTERED_MODEL",
    "LSTM_SAVE_MODEL",
    "LSTM_EPOCHS",
}


def fit_and_save(
    config: Config,
    plan: TrainingPlan,
    tracked: TrackedRun | None,
    *,
    callbacks: Sequence[Any] = (),
    run_name: str = RUN_NAME,
    cpus_per_worker: float = 1.0,
    report: Callable[[dict[str, float]], None] | None = None,
) -> tuple[Path, dict]:
    """Fit on Ray workers (inside a running Ray) and save the best weights with their card.

    With ``report`` (a one-worker Tune trial's), fit in this process instead (`train_here`)
    and pass it each epoch's metrics.
    """
    project = config.PROJECT_DIR
    gpu = use_gpu(config)
    if config.RAY_USE_GPU and not gpu:
        logger.warning("RAY_USE_GPU is set but the Ray cluster has no GPU: training on CPU")
    check_precision(plan.mixed_precision, torch.device("cuda" if gpu else "cpu"))
    where = {
        "storage_path": project / RAY_DIR,
        "run_name": run_name,
        "log_file": project / TRAIN_LOG,
        "tracked": tracked,
        "use_gpu": gpu,
    }
    if report is not None:
        if config.RAY_NUM_WORKERS != 1:
            raise ValueError("only a one-worker training runs in the calling process")
        last = nullcontext(train_here(plan, **where, report=report))
    else:
        last = train_on_ray(
            plan,
            **where,
            num_workers=config.RAY_NUM_WORKERS,
            max_failures=max_failures(config.RAY_MAX_FAILURES),
            callbacks=callbacks,
            cpus_per_worker=cpus_per_worker,
        ).as_directory()
    with last as folder:
        _, best_weights, _, state = read_checkpoint(Path(folder))
    training = {k: state[k] for k in ("epoch", "early_stopping", "history")}
    if tracked is not None:
        training["mlflow_run_id"] = tracked.run_id
    card = ModelCard(
        model=plan.model,
        data=plan.data,
        normalization=plan.norm,
        trained_basins=plan.basins,
        config=config.to_yaml_dict(),
        training=training,
    )
    model_path = save_model(project / BEST_MODEL, best_weights, card)
    best = state["early_stopping"]
    logger.info(
        f"Best model: epoch {best['best_epoch'] + 1}, validation "
        f"{plan.selection_metric.upper()} {best['best']:.3f} -> {model_path}"
    )
    return model_path, state


def use_gpu(config: Config) -> bool:
    """Whether ``config`` trains on GPUs: it asks for them and the running Ray has one."""
    return config.RAY_USE_GPU and cluster_has_gpu()


def register_if_asked(config: Config, tracked: TrackedRun, model_uri: str) -> str | None:
    """With LSTM_SAVE_MODEL, a new registry version of the experiment's model."""
    if not config.LSTM_SAVE_MODEL:
        return None
    name = registered_name(config)
    version = register(tracked, model_uri, name)
    logger.info(f"Registered {name} version {version} (models:/{name}@latest)")
    return version


def registered_name(config: Config) -> str:
    """The registry name of this experiment's models: MLFLOW_REGISTERED_MODEL or <domain>-lstm."""
    return config.MLFLOW_REGISTERED_MODEL or f"{config.DOMAIN_NAME}-lstm"


def tracked_run(
    config: Config,
    plan,
    ray_dir: Path,
    parent: TrackedRun | None,
    run_name: str | None = None,
) -> TrackedRun:
    """The MLflow run of this training: the killed run's own when resuming, else a new one."""
    record = ray_dir / "mlflow_run.json"
    uri = tracking_uri(config)
    if record.is_file():
        previous = json.loads(record.read_text())
        if previous["uri"] == uri and (reopened := reopen(uri, previous["run_id"])) is not None:
            return reopened
    periods = {
        "train_period": str(plan.train_period),
        "early_stopping_period": str(plan.early_stopping_period),
        "evaluation_period": str(config.VALIDATION_PERIOD),
    }
    tracked = start_run(
        config,
        "train",
        run_name=run_name,
        parent=parent,
        data_fingerprint=fingerprint(plan.store, plan.basins, periods),
    )
    write_text(record, json.dumps({"uri": uri, "run_id": tracked.run_id}))
    return tracked


def guard_resume(config: Config, ray_dir: Path) -> None:
    """Resume only the same experiment: a changed config in a used PROJECT_DIR is an error."""
    record = ray_dir / "experiment.json"
    current = {k: v for k, v in config.to_yaml_dict().items() if k not in RESUMABLE_CHANGES}
    if record.is_file():
        previous = json.loads(record.read_text())
        # A key added to the toolkit after that run was recorded had its default then.
        for key in current.keys() - previous.keys():
            field = Config.model_fields[key]
            if not field.is_required():
                previous[key] = TypeAdapter(field.annotation).dump_python(
                    field.default, mode="json"
                )
        changed = sorted(
            k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k)
        )
        if changed:
            raise ConfigError(
                f"PROJECT_DIR {config.PROJECT_DIR} holds a run of another config (changed: "
                f"{', '.join(changed)}); use a new PROJECT_DIR or pass --restart"
            )
    write_text(record, json.dumps(current, indent=1))
