"""``regional-lstm train``: plan on the driver, fit on Ray workers, save the best, evaluate."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import ray

from regional_lstm.artifacts import ModelCard, save_model
from regional_lstm.atomic import write_text
from regional_lstm.config import Config
from regional_lstm.distributed.cluster import ray_session
from regional_lstm.distributed.train import train_on_ray
from regional_lstm.errors import ConfigError
from regional_lstm.training.checkpoint import read_checkpoint
from regional_lstm.workflows.evaluate import BEST_MODEL, Evaluation, evaluate_project
from regional_lstm.workflows.plan import make_plan

RUN_NAME = "train"
# Keys that may change between a killed run and its relaunch without changing what is trained.
RESUMABLE_CHANGES = {
    "RAY_ADDRESS",
    "RAY_NUM_WORKERS",
    "RAY_USE_GPU",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "LSTM_EPOCHS",
}


@dataclass(frozen=True)
class TrainOutcome:
    model_path: Path
    state: dict
    evaluation: Evaluation


def train(config: Config, *, restart: bool = False, log=print) -> TrainOutcome:
    """Train and evaluate; relaunching with the same PROJECT_DIR resumes a killed run."""
    plan = make_plan(config)
    project = config.PROJECT_DIR
    ray_dir = project / "ray"
    if restart and ray_dir.exists():
        shutil.rmtree(ray_dir)
    _guard_resume(config, ray_dir)
    with ray_session(config.RAY_ADDRESS):
        use_gpu = config.RAY_USE_GPU and ray.cluster_resources().get("GPU", 0) > 0
        if config.RAY_USE_GPU and not use_gpu:
            log("RAY_USE_GPU is set but the Ray cluster has no GPU: training on CPU")
        checkpoint = train_on_ray(
            plan,
            storage_path=ray_dir,
            run_name=RUN_NAME,
            log_file=project / "logs" / "train.log",
            log=log,
            num_workers=config.RAY_NUM_WORKERS,
            use_gpu=use_gpu,
        )
        with checkpoint.as_directory() as folder:
            _, best_weights, _, state = read_checkpoint(Path(folder))
    card = ModelCard(
        model=plan.model,
        data=plan.data,
        normalization=plan.norm,
        trained_basins=plan.basins,
        config=config.to_yaml_dict(),
        training={k: state[k] for k in ("epoch", "early_stopping", "history")},
    )
    model_path = save_model(project / BEST_MODEL, best_weights, card)
    best = state["early_stopping"]
    log(
        f"Best model: epoch {best['best_epoch'] + 1}, validation NSE {best['best']:.3f} "
        f"-> {model_path}"
    )
    return TrainOutcome(model_path, state, evaluate_project(project, log=log))


def _guard_resume(config: Config, ray_dir: Path) -> None:
    """Resume only the same experiment: a changed config in a used PROJECT_DIR is an error."""
    record = ray_dir / "experiment.json"
    current = {k: v for k, v in config.to_yaml_dict().items() if k not in RESUMABLE_CHANGES}
    if record.is_file():
        previous = json.loads(record.read_text())
        changed = sorted(
            k for k in current.keys() | previous.keys() if current.get(k) != previous.get(k)
        )
        if changed:
            raise ConfigError(
                f"PROJECT_DIR {config.PROJECT_DIR} holds a run of another config (changed: "
                f"{', '.join(changed)}); use a new PROJECT_DIR or pass --restart"
            )
    write_text(record, json.dumps(current, indent=1))
