"""A disk that fills up while a store or the results are rewritten: a real small tmpfs.

The previous store or results stay whole and readable, the command says in one line what
could not be written, and nothing half-written is left beside them. Needs the right to mount
a tmpfs (root, as on CI); skipped where that is refused.
"""

from __future__ import annotations

import os
import subprocess

import pytest
import xarray as xr

from regional_lstm.config_periods import Period
from regional_lstm.data.store import open_store
from regional_lstm.data.synth import synthesize
from regional_lstm.pipeline.results import evaluate_project
from tests.conftest import assert_one_line_error, run_cli, tiny_config, train_in_process

DISK_BYTES = 8 * 2**20


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs, unmounted after the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk, leave: int) -> None:
    """Take all but ``leave`` bytes of ``disk``'s free space."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with open(disk / "filler", "wb") as filler:
        filler.write(b"\0" * max(free - leave, 0))


def files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_store_rewritten_on_a_full_disk_stays_the_previous_store(small_disk):
    store = synthesize(small_disk / "store.zarr", basins=2, years=2, seed=1)
    before = open_store(store).load()
    fill(small_disk, leave=64 * 2**10)

    result = run_cli("synth", "--out", store, "--basins", "12", "--years", "6", "--overwrite")

    assert_one_line_error(result, "No space left on device")
    xr.testing.assert_identical(open_store(store).load(), before)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "store.zarr"]


def test_results_rewritten_on_a_full_disk_stay_the_previous_results(small_disk, tiny_store):
    config = tiny_config(tiny_store, small_disk / "project", LSTM_EPOCHS=1)
    train_in_process(config)
    results = config.PROJECT_DIR / "results"
    evaluate_project(config.PROJECT_DIR, distribute=False)
    before = files(results)
    assert len([name for name in before if name.endswith(".png")]) == 7  # 6 basins and the CDF
    fill(small_disk, leave=64 * 2**10)

    with pytest.raises(OSError, match="No space left on device"):
        evaluate_project(config.PROJECT_DIR, period=Period.parse([1992, 1992]), distribute=False)

    assert files(results) == before
    assert [p.name for p in results.parent.iterdir() if p.name.startswith(".")] == []
