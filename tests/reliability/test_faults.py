"""Real kills of a real `regional-lstm train`: its driver, then one of its Ray Train workers.

One project, three launches of the same command, each on its own embedded Ray, as a user runs
it: the driver is SIGKILLed mid-run, the relaunch resumes and loses a worker with
RAY_MAX_FAILURES 0 (one line naming the worker and how to resume), the third launch resumes
again and finishes with every epoch and every result file.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pandas as pd
import yaml

from tests.conftest import ROOT, tiny_config
from tests.proc import command_line, descendants

EPOCHS = 6
EPOCH_LINE = re.compile(rf"Epoch (\d+)/{EPOCHS}:")
RESUMED = re.compile(r"Resuming from epoch (\d+)")


def _launch(config_file, kill_after_epoch: int | None = None, kill: str | None = None):
    """Run `regional-lstm train CONFIG`; with ``kill``, SIGKILL the "driver" or one Ray Train
    "worker" once an epoch (``kill_after_epoch``, or any) is logged. Returns (exit code, output
    lines)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "regional_lstm", "train", str(config_file)]
    lines: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
    ) as process:

        def follow() -> None:
            killed = False
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                epoch = EPOCH_LINE.search(line)
                if killed or kill is None or not epoch:
                    continue
                if kill_after_epoch is not None and int(epoch[1]) != kill_after_epoch:
                    continue
                if kill == "driver":
                    victim = process.pid
                else:
                    tree = descendants(process.pid)
                    victim = next(p for p in tree if "RayTrainWorker" in command_line(p))
                os.kill(victim, signal.SIGKILL)
                killed = True

        reader = threading.Thread(target=follow)
        reader.start()
        code = process.wait(timeout=300)
        reader.join()
    return code, lines


def _epochs(lines: list[str]) -> list[int]:
    return _numbers(EPOCH_LINE, lines)


def _numbers(pattern: re.Pattern, lines: list[str]) -> list[int]:
    return [int(m[1]) for m in map(pattern.search, lines) if m]


def test_a_killed_driver_and_a_killed_worker_each_resume_on_relaunch(tiny_store, tmp_path):
    config = tiny_config(
        tiny_store,
        tmp_path / "project",
        LSTM_EPOCHS=EPOCHS,
        LSTM_SAMPLES_PER_EPOCH=8192,  # epochs of a second or two: a kill lands within the next
        RAY_MAX_FAILURES=0,
    )
    config_file = tmp_path / "faults.yaml"
    config_file.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")

    # Killed once epoch 2 is reported: epoch 1's checkpoint is then saved for sure (one reported
    # a moment before the kill may still be on its way; the relaunch would start afresh).
    code, first = _launch(config_file, kill_after_epoch=2, kill="driver")
    assert code == -signal.SIGKILL, first
    assert 2 <= max(_epochs(first)) < EPOCHS, first

    code, second = _launch(config_file, kill="worker")  # at its first epoch after resuming
    resumed = _numbers(RESUMED, second)
    assert resumed and resumed[0] >= 1, second  # the driver's last checkpoint, not a fresh start
    assert code == 1, second
    error = second[-1]
    assert re.fullmatch(
        r"error: training stopped: Ray Train worker 0 \(pid \d+ on [\d.]+\) died; relaunch the "
        r"same command to resume from its checkpoint of epoch \d+",
        error,
    ), second
    assert not [line for line in second if "Traceback" in line], second
    promised = int(error.rsplit(" ", 1)[1])

    code, third = _launch(config_file)
    assert code == 0, third
    assert _numbers(RESUMED, third) == [promised], third
    assert _epochs(third) == list(range(promised + 1, EPOCHS + 1)), third
    results = config.PROJECT_DIR / "results"
    metrics = pd.read_csv(results / "metrics.csv", index_col=0)
    assert len(metrics) == 6 and metrics["NSE"].notna().all()
    assert len(list(results.glob("*_LSTM_predictions.csv"))) == 6
