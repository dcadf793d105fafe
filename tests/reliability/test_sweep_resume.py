"""A sweep whose driver is SIGKILLed after one trial finished: `tune --resume` keeps that trial
and its MLflow run, finishes the other in its own run, and records no run twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import yaml

from regional_lstm.tracking.store import client_for
from tests.conftest import ROOT, tiny_config


def _tune(config_file, *flags: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "regional_lstm", "tune", str(config_file), *flags]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    )


def _epochs_logged(client, run) -> list[int]:
    return sorted({m.step for m in client.get_metric_history(run.info.run_id, "val_nse")})


def test_a_resumed_sweep_keeps_its_finished_trial_and_records_no_run_twice(tiny_store, tmp_path):
    config = tiny_config(
        tiny_store,
        tmp_path / "project",
        LSTM_EPOCHS=[1, 4],
        LSTM_SAMPLES_PER_EPOCH=4096,
        OPTIMIZATION_ALGORITHM="GridSearch",
        OPTIMIZATION_METRIC="NSE",
    )
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    trials = config.PROJECT_DIR / "tune" / "trials"

    first = _tune(config_file)
    deadline = time.monotonic() + 300
    # Killed once the 1-epoch trial has saved its model and the other has a checkpoint.
    while time.monotonic() < deadline and first.poll() is None:
        saved = list(trials.glob("*/models/LSTM/best_model.pt"))
        checkpoints = list(trials.glob("*/ray/*/checkpoint_*/state.json"))
        if len(saved) == 1 and {p.parts[-5] for p in checkpoints} - {saved[0].parts[-4]}:
            break
        time.sleep(0.2)
    assert first.poll() is None, first.communicate()[0]
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()

    second = _tune(config_file, "--resume")
    output, _ = second.communicate(timeout=400)
    assert second.returncode == 0, output

    uri = f"sqlite:///{config.PROJECT_DIR / 'mlflow.db'}"
    client = client_for(uri)
    parent_id = json.loads((config.PROJECT_DIR / "tune" / "mlflow_parent.json").read_text())
    parent_id = parent_id["run_id"]
    experiment = client.get_experiment_by_name("tiny").experiment_id
    runs = client.search_runs([experiment])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]
    kinds = sorted(r.data.tags.get("regional_lstm.kind") for r in runs)
    assert kinds.count("tune") == 1, kinds  # the parent was reopened, not started again
    assert len(children) == 2, [r.data.tags for r in runs]
    logged = sorted(_epochs_logged(client, child) for child in children)
    assert logged == [[1], [1, 2, 3, 4]]
    assert all(child.info.status == "FINISHED" for child in children)
    table = pd.read_csv(config.PROJECT_DIR / "tune" / "trials.csv")
    assert sorted(table["LSTM_EPOCHS"]) == [1, 4] and table["best_score"].notna().all()
