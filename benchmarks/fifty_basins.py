"""The 50-basin training experiment the memory and overhead benchmarks run, through public entry
points only: a synthetic store from ``synthesize``, an experiment YAML, and `regional-lstm train`
run as a subprocess (so its whole process tree can be watched), rank 0's epoch timings read
from MLflow.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from regional_lstm.data.synth import synthesize
from regional_lstm.data.synth.source import ATTRIBUTE_VARIABLES

FIRST_YEAR = 1990
YEARS = 15  # 1990 feeds the first lookback; 1991-2002 calibration, 2003-2004 evaluation
DYNAMIC = ["prcp", "tmin", "tmax", "srad", "pet", "dayl"]
# Every attribute the synthetic generator has (10; a CAMELS store would have ~27).
STATIC = [variable.name for variable in ATTRIBUTE_VARIABLES]


@dataclass(frozen=True)
class Experiment:
    """The sizes that matter for memory and epoch time."""

    basins: int = 50
    epochs: int = 4
    samples_per_epoch: int = 65_536
    hidden: int = 64
    lookback: int = 365
    batch: int = 256
    workers: int = 2

    def config(self, store: Path, project: Path) -> dict:
        return {
            "DOMAIN_NAME": "bench50",
            "DATA_STORE": str(store),
            "PROJECT_DIR": str(project),
            "DYNAMIC_INPUTS": DYNAMIC,
            "STATIC_ATTRIBUTES": STATIC,
            "TARGETS": ["streamflow"],
            "CALIBRATION_PERIOD": [FIRST_YEAR + 1, FIRST_YEAR + YEARS - 3],
            "VALIDATION_PERIOD": [FIRST_YEAR + YEARS - 2, FIRST_YEAR + YEARS - 1],
            "LSTM_HIDDEN_SIZE": self.hidden,
            "LSTM_NUM_LAYERS": 1,
            "LSTM_LOOKBACK": self.lookback,
            "LSTM_DROPOUT": 0.2,
            "LSTM_USE_ATTENTION": False,
            "LSTM_EPOCHS": self.epochs,
            "LSTM_BATCH_SIZE": self.batch,
            "LSTM_LEARNING_RATE": 0.001,
            "LSTM_LEARNING_PATIENCE": self.epochs + 1,  # every epoch runs
            "LSTM_SAMPLES_PER_EPOCH": self.samples_per_epoch,
            "RAY_NUM_WORKERS": self.workers,
            "SEED": 0,
        }


def prepare(workdir: Path, experiment: Experiment) -> tuple[Path, Path]:
    """The store (made once per workdir and size) and a fresh project's experiment YAML."""
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / f"store-{experiment.basins}.zarr"
    if not store.exists():
        synthesize(store, basins=experiment.basins, years=YEARS, seed=0)
    project = workdir / "project"
    shutil.rmtree(project, ignore_errors=True)  # its log and MLflow store hold only this run
    config = workdir / "experiment.yaml"
    config.write_text(yaml.safe_dump(experiment.config(store, project), sort_keys=False))
    return config, project


def start_training(config: Path, output: Path, env: dict[str, str] | None = None):
    """`regional-lstm train --restart CONFIG` as a child process, its output to ``output``."""
    command = [sys.executable, "-m", "regional_lstm", "train", "--restart", str(config)]
    with output.open("w") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)


def _last_run(project: Path):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{(project / 'mlflow.db').absolute()}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return client, runs[0].info.run_id


def epoch_metrics(project: Path) -> dict[str, list[float]]:
    """Rank 0's own timings of epochs 2..N (train_seconds: batches; epoch_seconds: with
    validation), as it logged them to MLflow."""
    client, run_id = _last_run(project)
    timings = {}
    for name in ("train_seconds", "epoch_seconds"):
        history = sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)
        timings[name] = [m.value for m in history[1:]]
    return timings
