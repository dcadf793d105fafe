"""The malloc settings Ray workers start with: an LSTM step reuses its memory, no page faults."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

from regional_lstm.allocator import ENVIRONMENT, keep_freed_memory

# Steps of a CPU LSTM (64 windows x 365 days, hidden 64: ~90 MB of oneDNN work space each) in
# a thread, as Ray Train runs them; prints the page faults of each step once warm (3rd on). The
# kernel may page out and back in a warm heap now and then (a one-step burst of faults seen on a
# busy machine), so the toolkit's settings are judged by the median step.
STEPS = """
import json, resource, threading, torch
torch.set_num_threads(1)
lstm = torch.nn.LSTM(8, 64, batch_first=True)
x = torch.randn(64, 365, 8)
faults = []
def steps():
    for _ in range(7):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        lstm(x)[0].sum().backward()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
thread = threading.Thread(target=steps)
thread.start()
thread.join()
print(json.dumps(faults[2:]))
"""


def _faults_per_step(extra_env: dict[str, str]) -> list[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | extra_env
    done = subprocess.run(
        [sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_with_the_workers_settings_an_lstm_step_maps_no_fresh_memory():
    default, toolkit = _faults_per_step({}), _faults_per_step(ENVIRONMENT)
    assert min(default) > 5_000  # glibc maps each step's work space anew: ~20 MB+ of faults
    assert statistics.median(toolkit) < 500, toolkit  # kept in the heap and reused


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings")
def test_a_running_process_can_keep_its_freed_memory():
    assert keep_freed_memory()
