"""The synthetic generator: a reproducible store with hydrologically sensible behaviour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from regional_lstm.data import synth
from regional_lstm.data.store import CANONICAL, open_store
from regional_lstm.data.synth import hydrology, weather
from regional_lstm.errors import ConfigError, StoreError

FORCINGS = ["prcp", "tmin", "tmax", "srad", "pet", "dayl"]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    """Thirty basins over six years: enough to compare basins with each other."""
    return synth.synthesize(tmp_path_factory.mktemp("synth") / "s.zarr", basins=30, years=6)


@pytest.fixture(scope="module")
def store(store_path) -> xr.Dataset:
    return open_store(store_path).load()


@pytest.fixture(scope="module")
def gappy_store(tmp_path_factory) -> xr.Dataset:
    path = tmp_path_factory.mktemp("gappy") / "g.zarr"
    return open_store(synth.synthesize(path, basins=6, years=6, gap_fraction=0.1)).load()


def _values(path) -> xr.Dataset:
    return open_store(path).load().drop_attrs()


def test_same_seed_gives_an_identical_store(tmp_path):
    first = synth.synthesize(tmp_path / "a.zarr", basins=3, years=2, seed=7)
    second = synth.synthesize(tmp_path / "b.zarr", basins=3, years=2, seed=7)
    xr.testing.assert_identical(_values(first), _values(second))


def test_different_seeds_give_different_values():
    first, second = (synth.SyntheticSource(n_basins=2, years=2, seed=s) for s in (1, 2))
    assert not first.read_attributes()[0].equals(second.read_attributes()[0])
    for name in ["prcp", "tmax", "streamflow"]:
        assert not np.array_equal(
            first.read_basin("syn0002")[name], second.read_basin("syn0002")[name]
        )


def test_a_basin_does_not_depend_on_how_many_are_generated():
    alone = synth.SyntheticSource(n_basins=3, years=2, seed=5).read_basin("syn0003")
    among_many = synth.SyntheticSource(n_basins=40, years=2, seed=5).read_basin("syn0003")
    pd.testing.assert_frame_equal(alone, among_many)


def test_store_opens_with_plain_xarray_and_describes_every_variable(store_path):
    ds = xr.open_zarr(store_path, consolidated=True)
    assert dict(ds.sizes) == {"basin": 30, "time": 2191}
    assert list(ds["basin"].values[:2]) == ["syn0001", "syn0002"]
    assert ds["time"].values[0] == np.datetime64("1990-01-01")
    assert ds.attrs["source_kind"] == "synthetic"
    assert ds.attrs["synthetic_seed"] == "0"
    for name in [*FORCINGS, "streamflow", "swe"]:
        assert ds[name].dims == ("basin", "time")
        assert ds[name].dtype == np.float32
    for name, variable in ds.data_vars.items():
        assert variable.attrs["units"], name
        assert variable.attrs["long_name"], name
    for name, (units, _) in CANONICAL.items():
        assert ds[name].attrs["units"] == units


def test_long_term_streamflow_is_a_plausible_share_of_precipitation(store):
    runoff_ratio = store["streamflow"].mean("time") / store["prcp"].mean("time")
    assert (store["streamflow"] >= 0).all()
    assert ((runoff_ratio > 0.05) & (runoff_ratio < 0.95)).all()


def test_swe_is_never_negative_and_absent_in_warm_low_basins(store):
    assert (store["swe"] >= 0).all()
    warm_low = (store["gauge_lat"] < 34) & (store["elev_mean"] < 800)
    assert warm_low.sum() >= 2
    assert (store["swe"].sel(basin=warm_low) == 0).all()


def test_snow_builds_in_winter_and_melts_out_by_summer_in_cold_basins(store):
    snowy = store.sel(basin=store["frac_snow"] > 0.15)
    assert snowy.sizes["basin"] >= 3
    by_month = snowy["swe"].groupby("time.month").mean()
    assert set(by_month.idxmax("month").values.tolist()) <= {1, 2, 3, 4}
    assert (by_month.max("month") > 50).all()
    august = snowy["swe"].sel(time=snowy["time.month"] == 8)
    assert (august == 0).all()


def test_drier_climates_turn_less_precipitation_into_streamflow(store):
    runoff_ratio = store["streamflow"].mean("time") / store["prcp"].mean("time")
    correlation = np.corrcoef(store["aridity"].values, runoff_ratio.values)[0, 1]
    assert correlation < -0.6


def test_larger_basins_respond_more_slowly(store):
    flow = store["streamflow"].values
    anomalies = flow - flow.mean(axis=1, keepdims=True)
    lag_one = (anomalies[:, 1:] * anomalies[:, :-1]).mean(axis=1) / anomalies.var(axis=1)
    correlation = np.corrcoef(np.log(store["area"].values), lag_one)[0, 1]
    assert correlation > 0.3


def test_gaps_hide_the_requested_share_of_streamflow_in_runs(gappy_store):
    missing = np.isnan(gappy_store["streamflow"].values)
    assert abs(missing.mean(axis=1) - 0.1).max() < 0.01
    run_starts = (missing[:, 1:] & ~missing[:, :-1]).sum() + missing[:, 0].sum()
    assert missing.sum() / run_starts > 5


def test_gaps_leave_forcings_complete_and_observed_values_unchanged(gappy_store, store):
    for name in FORCINGS:
        assert not gappy_store[name].isnull().any()
    complete = store.isel(basin=slice(0, 6))
    observed = ~gappy_store["streamflow"].isnull()
    np.testing.assert_array_equal(
        gappy_store["streamflow"].where(observed), complete["streamflow"].where(observed)
    )


def test_gaps_start_the_swe_record_a_third_into_the_period(gappy_store):
    swe = gappy_store["swe"].values
    record_start = round(swe.shape[1] * synth.CONSTANTS.swe_record_start_fraction)
    assert abs(record_start / swe.shape[1] - 1 / 3) < 0.01
    assert np.isnan(swe[:, :record_start]).all()
    assert not np.isnan(swe[:, record_start:]).any()


def test_existing_store_is_kept_unless_overwrite_is_given(tmp_path):
    path = synth.synthesize(tmp_path / "s.zarr", basins=1, years=1, seed=0)
    with pytest.raises(StoreError, match="already exists"):
        synth.synthesize(path, basins=1, years=1, seed=1)
    assert open_store(path).attrs["synthetic_seed"] == "0"
    synth.synthesize(path, basins=1, years=1, seed=1, overwrite=True)
    assert open_store(path).attrs["synthetic_seed"] == "1"


@pytest.mark.parametrize(
    ("argument", "value"),
    [("basins", 0), ("years", 0), ("seed", -1), ("gap_fraction", 1.0), ("start", "someday")],
)
def test_invalid_arguments_are_refused_before_anything_is_written(tmp_path, argument, value):
    with pytest.raises(ConfigError):
        synth.synthesize(tmp_path / "s.zarr", **{argument: value})
    assert not (tmp_path / "s.zarr").exists()


def test_vectorised_wet_day_chain_matches_the_day_by_day_markov_chain():
    rng = np.random.default_rng(0)
    seasonal = 0.5 * np.sin(np.arange(2000) / 58)
    uniform = rng.random(2000)
    p01, p11 = weather._transition_probabilities(0.4, seasonal)
    wet, expected = False, []
    for u, to_wet, stay_wet in zip(uniform, p01, p11, strict=True):
        wet = bool(u < (stay_wet if wet else to_wet))
        expected.append(wet)
    np.testing.assert_array_equal(weather._wet_days(0.4, seasonal, uniform), expected)


def test_closed_form_snowpack_matches_the_day_by_day_recursion():
    rng = np.random.default_rng(1)
    snowfall = rng.gamma(0.5, 6.0, 1000) * (rng.random(1000) < 0.4)
    melt = rng.uniform(0, 8, 1000)
    swe, expected = 25.0, []
    for fall, potential in zip(snowfall, melt, strict=True):
        swe = max(0.0, swe + fall - potential)
        expected.append(swe)
    np.testing.assert_allclose(hydrology._snowpack(snowfall, melt, 25.0), expected, atol=1e-9)


def test_basins_simulated_in_worker_processes_give_the_same_store(tmp_path):
    from regional_lstm.data.store import PARALLEL_MIN_BASINS

    kwargs = {"basins": PARALLEL_MIN_BASINS, "years": 2, "seed": 4, "gap_fraction": 0.1}
    serial = xr.open_zarr(synth.synthesize(tmp_path / "serial.zarr", workers=1, **kwargs))
    parallel = xr.open_zarr(synth.synthesize(tmp_path / "parallel.zarr", workers=2, **kwargs))
    xr.testing.assert_identical(serial.drop_attrs(), parallel.drop_attrs())
