"""A Train worker killed mid-run: with RAY_MAX_FAILURES the run goes on from its checkpoint."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from regional_lstm.workflows.train import train
from tests.conftest import tiny_config
from tests.proc import command_line, descendants

pytestmark = pytest.mark.ray
EPOCH_LINE = re.compile(r"Epoch (\d+)/4:")


def _train(config, tmp_path, name: str, kill_after_epoch: int | None = None):
    """`regional-lstm train` on its own Ray; SIGKILL a Train worker once that epoch is logged."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "regional_lstm", "train", "--restart", str(path)]
    lines, killed = [], None
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        deadline = time.monotonic() + 400
        for line in process.stdout:
            lines.append(line)
            epoch = EPOCH_LINE.search(line)
            if kill_after_epoch and killed is None and epoch and int(epoch[1]) == kill_after_epoch:
                tree = descendants(process.pid)
                killed = next(p for p in tree if "RayTrainWorker" in command_line(p))
                os.kill(killed, signal.SIGKILL)
            if time.monotonic() > deadline:
                process.kill()
    return process.returncode, "".join(lines), killed


def test_a_killed_train_worker_is_replaced_and_training_resumes(ray_cluster, tiny_store, tmp_path):
    # Epochs of a few seconds, longer than the Train controller's 2 s poll of the workers'
    # reports (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S): the checkpoint of an epoch a worker logged
    # but the controller had not collected yet dies with the worker (with 1.5 s epochs, up to
    # two epochs were repeated).
    settings = {"LSTM_EPOCHS": 4, "LSTM_SAMPLES_PER_EPOCH": 65536, "RAY_NUM_WORKERS": 2}
    calm = tiny_config(tiny_store, tmp_path / "calm", **settings)
    train(calm)  # the undisturbed run, on the session's Ray

    hurt = tiny_config(tiny_store, tmp_path / "hurt", RAY_MAX_FAILURES=1, **settings)
    code, output, killed = _train(hurt, tmp_path, "hurt", kill_after_epoch=2)
    assert killed is not None, output
    assert code == 0, output
    print("".join(line for line in output.splitlines(True) if "Epoch" in line))  # with -s
    epochs = [int(m[1]) for m in EPOCH_LINE.finditer(output)]
    assert epochs[-1] == 4 and set(epochs) == {1, 2, 3, 4}
    assert len(epochs) - len(set(epochs)) <= 1  # resumed from a checkpoint: one epoch repeated
    # The same outputs as the undisturbed run.
    for project in (calm.PROJECT_DIR, hurt.PROJECT_DIR):
        assert (project / "results" / "metrics.csv").is_file()
    calm_files = sorted(p.name for p in (calm.PROJECT_DIR / "results").iterdir())
    assert sorted(p.name for p in (hurt.PROJECT_DIR / "results").iterdir()) == calm_files
    calm_nse = pd.read_csv(calm.PROJECT_DIR / "results" / "metrics.csv", index_col=0)["NSE"]
    hurt_nse = pd.read_csv(hurt.PROJECT_DIR / "results" / "metrics.csv", index_col=0)["NSE"]
    assert (calm_nse - hurt_nse).abs().median() < 0.1  # within the noise of a tiny model
