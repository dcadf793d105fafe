"""The camels-us adapter against the original CAMELS-US files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from regional_lstm.data.ingest import ingest
from regional_lstm.data.store import open_store
from tests.conftest import NH_CAMELS_US, write_basin_list

CFS_TO_MM_DAY_01022500 = 0.028316846592 * 86400 / 587675987 * 1000  # header area 587675987 m2


@pytest.fixture(scope="module")
def daymet_store(tmp_path_factory, request) -> xr.Dataset:
    request.getfixturevalue("shared_data")
    out = tmp_path_factory.mktemp("us") / "camels_us.zarr"
    return open_store(ingest("camels-us", NH_CAMELS_US, out))


def test_daymet_values_equal_the_raw_forcing_file(daymet_store):
    day = daymet_store.sel(basin="01022500", time="2000-01-01")
    raw = Path(NH_CAMELS_US, "basin_mean_forcing/daymet/01022500_lump_cida_forcing_leap.txt")
    row = pd.read_csv(raw, sep=r"\s+", skiprows=3).iloc[0]
    assert float(day["prcp"]) == pytest.approx(row["prcp(mm/day)"], abs=1e-5)
    assert float(day["tmax"]) == pytest.approx(row["tmax(C)"], abs=1e-5)
    assert float(day["tmin"]) == pytest.approx(row["tmin(C)"], abs=1e-5)
    assert float(day["dayl"]) == pytest.approx(row["dayl(s)"], rel=1e-6)
    assert float(day["vp"]) == pytest.approx(row["vp(Pa)"], rel=1e-6)


def test_streamflow_is_converted_from_cfs_with_the_header_area(daymet_store):
    # 01022500 2000 01 01   255.00 A:e
    q = float(daymet_store["streamflow"].sel(basin="01022500", time="2000-01-01"))
    assert q == pytest.approx(255.0 * CFS_TO_MM_DAY_01022500, rel=1e-6)
    assert float(daymet_store["area"].sel(basin="01022500")) == pytest.approx(587.675987)


def test_streamflow_matches_the_published_mm_per_day_series(daymet_store, shared_data):
    published = pd.read_csv(
        shared_data / "camels_us_torchhydronodes/model_results/01022500_results_train.csv",
        index_col="date",
        parse_dates=True,
    )["obs_runoff(mm/day)"]["2000-01-01":"2000-09-30"]
    ours = daymet_store["streamflow"].sel(basin="01022500", time=published.index).to_numpy()
    np.testing.assert_allclose(ours, published.to_numpy(), rtol=1e-5)


def test_store_has_units_and_long_names_on_every_variable(daymet_store):
    for name, var in daymet_store.data_vars.items():
        assert var.attrs.get("units"), name
        assert var.attrs.get("long_name"), name
    assert daymet_store["streamflow"].attrs["units"] == "mm/day"
    assert daymet_store["area"].attrs["units"] == "km2"
    assert daymet_store["huc_02"].values.tolist()[0] == "01"


def test_store_records_provenance(daymet_store):
    attrs = daymet_store.attrs
    assert attrs["source_kind"] == "camels-us"
    assert attrs["forcing"] == "daymet"
    assert Path(attrs["source_path"]) == NH_CAMELS_US.resolve()  # ../shared may be a link
    assert attrs["regional_lstm_version"]
    assert pd.Timestamp(attrs["ingest_time"]).year >= 2026


def test_forcing_swe_placeholder_is_not_ingested(daymet_store):
    assert "swe" not in daymet_store


@pytest.mark.parametrize("forcing", ["maurer", "maurer_extended", "nldas"])
def test_other_forcings_ingest_with_the_same_names(forcing, shared_data, tmp_path):
    basins = write_basin_list(tmp_path / "b.txt", ["01547700"])
    ds = open_store(
        ingest("camels-us", NH_CAMELS_US, tmp_path / "s.zarr", basins_file=basins, forcing=forcing)
    )
    raw_file = next((NH_CAMELS_US / "basin_mean_forcing" / forcing).glob("01547700_*"))
    raw = pd.read_csv(raw_file, sep=r"\s+", skiprows=3)
    raw.columns = [c.split("(")[0].lower() for c in raw.columns]
    stored = ds["prcp"].sel(basin="01547700").to_series()
    first = pd.Timestamp(int(raw["year"][0]), int(raw["mnth"][0]), int(raw["day"][0]))
    assert float(stored[first]) == pytest.approx(raw["prcp"][0], abs=1e-5)
    assert ds.attrs["forcing"] == forcing


def test_missing_discharge_flagged_minus_999_becomes_nan(shared_data, tmp_path):
    root = shared_data / "camels_us_cuahsi_sample"
    raw = pd.read_csv(
        next(root.glob("usgs_streamflow/*/06221400_streamflow_qc.txt")), sep=r"\s+", header=None
    )
    basins = write_basin_list(tmp_path / "b.txt", ["06221400"])
    ds = open_store(
        ingest("camels-us", root, tmp_path / "s.zarr", basins_file=basins, forcing="nldas")
    )
    q = ds["streamflow"].sel(basin="06221400").to_series()
    raw_dates = pd.to_datetime(raw[[1, 2, 3]].set_axis(["year", "month", "day"], axis=1))
    stored = q[raw_dates].to_numpy()
    assert np.isnan(stored).sum() == (raw[4] == -999).sum() == 66
    assert float(ds["area"].sel(basin="06221400")) > 0
