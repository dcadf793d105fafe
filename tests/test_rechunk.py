"""Stores of the older layout (8 basins x whole records) stay usable and can be rewritten."""

from __future__ import annotations

import numpy as np
import xarray as xr
import zarr

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import fit_normalization
from regional_lstm.data.pool import TrainSampler
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec
from regional_lstm.data.scan import window_statistics
from regional_lstm.data.store import dynamic_names, open_store
from regional_lstm.data.synth import synthesize
from tests.conftest import assert_one_line_error, run_cli

SPEC = DataSpec(("prcp", "pet"), ("area",), ("streamflow",), lookback=30)


def old_layout_copy(store, out):
    """The store as versions before time chunks wrote it: 8 basins x the full record."""
    ds = open_store(store).load()
    for variable in ds.variables.values():
        variable.encoding.pop("chunks", None)
        variable.encoding.pop("preferred_chunks", None)
    encoding = {n: {"chunks": (8, ds.sizes["time"])} for n in dynamic_names(ds)}
    ds.to_zarr(out, mode="w", zarr_format=3, consolidated=True, encoding=encoding)
    return out


def batches(store) -> list:
    reader = StoreReader(store)
    period = Period.parse(["1991-01-01", "1996-12-31"])
    norm = fit_normalization(
        reader, reader.basins, period.start, period.end, SPEC.dynamic, SPEC.static, SPEC.targets
    )
    stats = window_statistics(reader, reader.basins, period, SPEC, norm)
    sampler = TrainSampler(
        reader,
        stats.counts,
        period,
        SPEC,
        norm,
        target_std=stats.target_std,
        batch_size=16,
        seed=1,
        samples_per_epoch=64,
    )
    return list(sampler.epoch(0))


def test_an_old_store_trains_and_rechunks_to_the_same_values(tmp_path):
    new = synthesize(tmp_path / "new.zarr", basins=20, years=8, seed=4)
    old = old_layout_copy(new, tmp_path / "old.zarr")
    assert zarr.open_group(old)["prcp"].chunks == (8, 2922)
    assert len(batches(old)) == 4  # readable as it is

    result = run_cli("rechunk", str(old), "--out", str(tmp_path / "again.zarr"))
    assert result.returncode == 0, result.stderr
    again = tmp_path / "again.zarr"
    assert zarr.open_group(again)["prcp"].chunks == (16, 1461)
    xr.testing.assert_identical(open_store(again).load(), open_store(new).load())
    assert open_store(again).attrs == open_store(new).attrs
    for name in ("prcp_moments", "streamflow_missing"):  # the summary planning reads
        assert np.array_equal(
            zarr.open_group(again)["summary"][name][:],
            zarr.open_group(new)["summary"][name][:],
            equal_nan=True,
        )

    run_cli("rechunk", str(old))  # in place
    assert zarr.open_group(old)["prcp"].chunks == (16, 1461)
    assert np.array_equal(
        zarr.open_group(old)["streamflow"][:], zarr.open_group(new)["streamflow"][:], equal_nan=True
    )


def test_rechunking_onto_an_existing_store_is_refused(tmp_path):
    store = synthesize(tmp_path / "s.zarr", basins=2, years=1, seed=0)
    result = run_cli("rechunk", str(store), "--out", str(store))
    assert_one_line_error(result, "already exists")
