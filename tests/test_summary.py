"""A store's yearly summary plans exactly as reading the values does, without reading them."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import zarr

from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.rechunk import write_summary
from regional_lstm.data.sampling import DataSpec
from regional_lstm.data.scan import Scan, scan_store
from regional_lstm.data.summary import GROUP, SummaryWriter, open_summary
from regional_lstm.data.synth import synthesize
from tests.conftest import run_cli

SPEC = DataSpec(("prcp", "tmax", "pet"), ("area",), ("streamflow",), lookback=60)
INPUTS = [*SPEC.dynamic, *SPEC.targets]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store with gaps (it has a summary) and a copy as stores were before summaries."""
    folder = tmp_path_factory.mktemp("summary")
    store = synthesize(folder / "new.zarr", basins=40, years=6, seed=3, gap_fraction=0.1)
    # Inputs with gaps too (the generator only drops streamflow days).
    group = zarr.open_group(store, mode="a")
    prcp = group["prcp"][:]
    prcp[5, 100:130] = np.nan
    prcp[17, 700] = np.inf
    group["prcp"][:] = prcp
    write_summary(store)
    old = folder / "old.zarr"
    shutil.copytree(store, old, ignore=shutil.ignore_patterns(GROUP))
    return store, old


def _period(start: str, end: str) -> Period:
    return Period(pd.Timestamp(start), pd.Timestamp(end))


def _assert_same(a: Scan, b: Scan) -> None:
    assert list(a.counts.items()) == list(b.counts.items())
    assert (a.moments is None) == (b.moments is None)
    for x, y in zip(a.moments or (), b.moments or (), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-10)
    for basin, std in b.raw_std.items():
        np.testing.assert_allclose(a.raw_std[basin], std, rtol=1e-8)


@pytest.mark.parametrize(
    ("train", "calibration", "last_n"),
    [
        (("1991-01-01", "1994-12-31"), ("1990-01-01", "1993-12-31"), 1),  # whole years
        (("1990-10-01", "1994-09-30"), ("1991-03-17", "1995-07-02"), 7),  # part-years too
        (("1990-01-20", "1990-06-01"), ("1990-02-01", "1990-02-20"), 3),  # inside one year
    ],
)
def test_planning_from_the_summary_equals_reading_every_value(stores, train, calibration, last_n):
    store, old = stores
    new_reader, old_reader = StoreReader(store), StoreReader(old)
    basins = [new_reader.basins[i] for i in (39, 17, 5, 22, 0, 8, 31)]  # not in store order
    args = (_period(*train), SPEC)
    options = {"calibration": _period(*calibration), "last_n": last_n}
    from_summary = scan_store(new_reader, basins, *args, **options)
    from_values = scan_store(old_reader, basins, *args, **options)
    _assert_same(from_summary, from_values)


def test_whole_year_periods_never_read_the_values(stores, tmp_path):
    store, _ = stores
    damaged = shutil.copytree(store, tmp_path / "damaged.zarr")
    for chunk in (damaged / "prcp" / "c").rglob("*"):
        if chunk.is_file():
            chunk.write_bytes(b"not zstd")  # any read of prcp now fails
    train, calibration = _period("1991-01-01", "1994-12-31"), _period("1990-01-01", "1993-12-31")
    planned = scan_store(
        StoreReader(damaged), StoreReader(damaged).basins, train, SPEC, calibration=calibration
    )
    expected = scan_store(
        StoreReader(store), StoreReader(store).basins, train, SPEC, calibration=calibration
    )
    _assert_same(planned, expected)


def test_the_missing_day_bits_are_the_values_not_finite(stores):
    store, _ = stores
    reader = StoreReader(store)
    summary = open_summary(reader.path, reader.time, len(reader.basins), INPUTS)
    rows = np.array([1, 5, 17, 30])
    basins = [reader.basins[i] for i in rows]
    for times in (slice(0, len(reader.time)), slice(3, 11), slice(95, 733), slice(700, 701)):
        values = reader.read_dynamic(basins, ["prcp"], times)[..., 0]
        assert (summary.missing("prcp", rows, times) == ~np.isfinite(values)).all()
    assert summary.missing("prcp", np.array([5]), slice(100, 130)).all()  # the gap
    assert summary.missing("prcp", np.array([17]), slice(700, 701)).all()  # inf is missing too


def test_an_older_store_plans_by_reading_and_summarize_adds_the_summary(stores, tmp_path):
    _, old = stores
    copy = shutil.copytree(old, tmp_path / "older.zarr")
    reader = StoreReader(copy)
    assert open_summary(reader.path, reader.time, len(reader.basins), INPUTS) is None
    before = scan_store(reader, reader.basins, _period("1991-01-01", "1993-06-30"), SPEC)
    result = run_cli("summarize", str(copy))
    assert result.returncode == 0, result.stderr
    reader = StoreReader(copy)
    assert open_summary(reader.path, reader.time, len(reader.basins), INPUTS) is not None
    after = scan_store(reader, reader.basins, _period("1991-01-01", "1993-06-30"), SPEC)
    assert after.counts == before.counts


def test_a_summary_of_another_record_is_not_used(stores, tmp_path, caplog):
    store, _ = stores
    shorter = synthesize(tmp_path / "short.zarr", basins=40, years=5, seed=3)
    target = shutil.copytree(store, tmp_path / "mixed.zarr")
    shutil.rmtree(target / GROUP)
    shutil.copytree(shorter / GROUP, target / GROUP)
    reader = StoreReader(target)
    with caplog.at_level(logging.WARNING):
        assert open_summary(reader.path, reader.time, len(reader.basins), INPUTS) is None
    assert "does not match the store" in caplog.text
    train = _period("1991-01-01", "1994-12-31")
    _assert_same(
        scan_store(reader, reader.basins, train, SPEC),
        scan_store(StoreReader(store), reader.basins, train, SPEC),
    )


def test_blocks_reach_the_writer_in_basin_order(tmp_path):
    time = pd.date_range("2000-01-01", periods=400, freq="D")
    zarr.open_group(tmp_path / "s.zarr", mode="w")
    writer = SummaryWriter(tmp_path / "s.zarr", ["prcp"], time, 32)
    writer.add(0, np.zeros((16, 400, 1), np.float32))
    with pytest.raises(ValueError, match="out of order"):
        writer.add(0, np.zeros((16, 400, 1), np.float32))
