"""`regional-lstm train` on its own embedded Ray: no dashboard, no actors it has no use for.

The command runs as a user runs it, a process with its own local Ray (so not the shared test
session's Ray; it runs between this worker's Ray tests, while the shared Ray is idle), and its
process tree is watched from /proc while it trains.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from regional_lstm.allocator import ENVIRONMENT
from tests.conftest import tiny_config
from tests.proc import descendants

# What a lean session leaves out: Ray Train's placement-group cleaner, dataset manager and
# autoscaling coordinator, and the dashboard's State API module (one of its ~10 processes).
LEFT_OUT = ("PlacementGroupCleaner", "DatasetManager", "AutoscalingCoordinator", "StateHead")


def _titles(pids: set[int]) -> dict[str, tuple[str, bool]]:
    """Each process's command line: its environment as NUL-separated text, and whether it
    has torch's library mapped (imported torch)."""
    titles = {}
    for pid in pids:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            torch = "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        _, had_torch = titles.get(title, ("", False))
        titles[title] = (environ, torch or had_torch)
    return titles


def test_train_on_its_own_ray_runs_lean_with_the_allocator_settings(tiny_store, tmp_path):
    config = tiny_config(tiny_store, tmp_path / "project", LSTM_EPOCHS=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "regional_lstm", "train", "--restart", str(path)]
    seen: dict[str, tuple[str, bool]] = {}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        deadline = time.monotonic() + 300
        while process.poll() is None and time.monotonic() < deadline:
            seen |= _titles(descendants(process.pid))
            time.sleep(0.2)
        if process.poll() is None:
            process.kill()
        output = process.stdout.read()
    assert process.returncode == 0, output
    assert "Epoch 2/2" in output
    workers = [environ for title, (environ, _) in seen.items() if "RayTrainWorker" in title]
    assert workers, list(seen)  # the watch saw the run
    assert not [t for t in seen if any(name in t for name in LEFT_OUT)]
    # The Train controller, which only coordinates, never loads torch (distributed.backend).
    controllers = [torch for title, (_, torch) in seen.items() if "TrainController" in title]
    assert controllers and not any(controllers), list(seen)
    # ... and its workers started with the allocator settings (regional_lstm.allocator).
    for environ in workers:
        assert {f"{k}={v}" for k, v in ENVIRONMENT.items()} <= set(environ.split("\0"))
