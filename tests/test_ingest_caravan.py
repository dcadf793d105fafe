"""Caravan ingest, checked against the real files in ../shared/data/caravan_samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from regional_lstm.data.ingest import ingest
from regional_lstm.data.ingest.camels_ch import CamelsCH
from regional_lstm.data.ingest.caravan import CARAVAN_COLUMNS, Caravan
from regional_lstm.errors import IngestError
from tests.conftest import drop_lines, ingest_error, log_lines, replace_line, shared_dataset

pytestmark = pytest.mark.shared_data

BASINS = ["camelsch_4001", "camelsch_4003"]
CSV_DIR = "timeseries/csv/camelsch"
ATTRIBUTES_DIR = "attributes/camelsch"


def raw_csv(basin: str) -> pd.DataFrame:
    file = shared_dataset("caravan_samples") / CSV_DIR / f"{basin}.csv"
    return pd.read_csv(file, index_col="date", parse_dates=["date"])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    out = tmp_path_factory.mktemp("caravan") / "store.zarr"
    return xr.open_zarr(ingest("caravan", shared_dataset("caravan_samples"), out))


def test_streamflow_equals_camels_ch_discharge_spec(store: xr.Dataset) -> None:
    camels_ch = CamelsCH(shared_dataset("camels_ch"), ["4001"]).read_basin("4001")
    caravan_q = store["streamflow"].sel(basin="camelsch_4001").to_series()
    caravan_q, camels_q = caravan_q.align(camels_ch["streamflow"], join="inner")
    np.testing.assert_array_equal(caravan_q.isna(), camels_q.isna())
    assert caravan_q.notna().sum() == 12247
    # Caravan rounds to 0.01 mm/day, CAMELS-CH to 0.001: measured max |difference| 0.005.
    assert float((caravan_q - camels_q).abs().max()) <= 0.005 + 1e-5


def test_columns_outside_the_caravan_table_are_skipped_and_recorded(store: xr.Dataset) -> None:
    assert "eobs" not in store
    assert store.attrs["skipped_columns"] == "eobs"
    assert sorted(v for v in store.data_vars if store[v].dims == ("basin", "time")) == sorted(
        CARAVAN_COLUMNS
    )


def test_era5_land_swe_stays_an_input_and_no_swe_target_is_made(store: xr.Dataset) -> None:
    assert "swe" not in store
    assert store["snow_depth_water_equivalent_mean"].attrs["units"] == "mm"


def test_units_come_from_the_caravan_table(store: xr.Dataset) -> None:
    units = {name: store[name].attrs["units"] for name in store.data_vars}
    assert units["streamflow"] == "mm/day"
    assert units["total_precipitation_sum"] == "mm/day"
    assert units["potential_evaporation_sum"] == "mm/day"
    assert units["temperature_2m_min"] == "degC"
    assert units["dewpoint_temperature_2m_max"] == "degC"
    assert units["surface_pressure_mean"] == "kPa"
    assert units["surface_net_solar_radiation_mean"] == "W/m2"
    assert units["u_component_of_wind_10m_mean"] == "m/s"
    assert units["volumetric_soil_water_layer_4_mean"] == "m3/m3"
    assert units["area"] == "km2"
    for name, variable in store.data_vars.items():
        assert variable.attrs.get("units") and variable.attrs.get("long_name"), name


def test_raw_values_of_a_known_day_are_stored(store: xr.Dataset) -> None:
    day = "2005-08-22"
    for basin in BASINS:
        raw = raw_csv(basin).loc[day]
        stored = store.sel(basin=basin, time=day)
        for name in [
            "streamflow",
            "total_precipitation_sum",
            "temperature_2m_mean",
            "snow_depth_water_equivalent_max",
            "surface_pressure_min",
        ]:
            np.testing.assert_allclose(
                float(stored[name]), raw[name], rtol=1e-6, err_msg=f"{basin} {name}"
            )


def test_area_comes_from_attributes_other(store: xr.Dataset) -> None:
    other = shared_dataset("caravan_samples") / ATTRIBUTES_DIR / "attributes_other_camelsch.csv"
    table = pd.read_csv(other, index_col="gauge_id")
    np.testing.assert_allclose(store["area"].values, table.loc[BASINS, "area"].values)


def test_store_opens_with_plain_xarray(store: xr.Dataset) -> None:
    assert store["streamflow"].dims == ("basin", "time")
    assert list(store["basin"].values) == BASINS
    assert all(store[name].dtype == np.float32 for name in CARAVAN_COLUMNS)


# The netCDF layout, built from the real csv (the sample has no netCDF files).


@pytest.fixture(scope="module")
def netcdf_store(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    """camelsch_4001 ingested from a netCDF copy of its csv, in the Caravan netCDF layout.

    Every variable carries the table's units attr, but ``temperature_2m_mean`` says "°C" and
    ``streamflow`` has none, to tell the file's units from the table's.
    """
    folder = tmp_path_factory.mktemp("caravan_netcdf")
    ds = xr.Dataset.from_dataframe(raw_csv("camelsch_4001").rename_axis("date"))
    for name, (units, _) in CARAVAN_COLUMNS.items():
        ds[name].attrs["units"] = units
    ds["temperature_2m_mean"].attrs["units"] = "°C"
    del ds["streamflow"].attrs["units"]
    nc_dir = folder / "caravan/timeseries/netcdf/camelsch"
    nc_dir.mkdir(parents=True)
    ds.to_netcdf(nc_dir / "camelsch_4001.nc", engine="netcdf4")
    # Attributes trimmed to six columns: each costs a Zarr array, and they are not tested here.
    (folder / "caravan" / ATTRIBUTES_DIR).mkdir(parents=True)
    for table in (shared_dataset("caravan_samples") / ATTRIBUTES_DIR).glob("attributes_*.csv"):
        columns = pd.read_csv(table, dtype=str).iloc[:, :6]
        columns.to_csv(folder / "caravan" / ATTRIBUTES_DIR / table.name, index=False)
    return xr.open_zarr(ingest("caravan", folder / "caravan", folder / "store.zarr"))


def test_netcdf_layout_gives_the_csv_values(store: xr.Dataset, netcdf_store: xr.Dataset) -> None:
    from_csv = store.sel(basin=["camelsch_4001"])
    for name in CARAVAN_COLUMNS:
        np.testing.assert_array_equal(netcdf_store[name].values, from_csv[name].values, name)
    assert netcdf_store.attrs["skipped_columns"] == "eobs"


def test_netcdf_units_attrs_win_over_the_table(netcdf_store: xr.Dataset) -> None:
    assert netcdf_store["temperature_2m_mean"].attrs["units"] == "°C"
    assert netcdf_store["temperature_2m_max"].attrs["units"] == "degC"
    assert netcdf_store["streamflow"].attrs["units"] == "mm/day"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the Caravan sample (both basins) to extend or corrupt."""
    copy = tmp_path / "caravan"
    real = shared_dataset("caravan_samples")
    shutil.copytree(real / CSV_DIR, copy / CSV_DIR)
    shutil.copytree(real / ATTRIBUTES_DIR, copy / ATTRIBUTES_DIR)
    return copy


def test_several_prefixes_are_read_together(source: Path) -> None:
    """A second source dataset ("copych", a relabelled copy of camelsch_4003) joins the first."""
    (source / "timeseries/csv/copych").mkdir()
    shutil.copy(
        source / CSV_DIR / "camelsch_4003.csv", source / "timeseries/csv/copych/copych_4003.csv"
    )
    (source / "attributes/copych").mkdir()
    for table in (source / ATTRIBUTES_DIR).glob("attributes_*_camelsch.csv"):
        text = table.read_text().replace("camelsch_4003,", "copych_4003,")
        (source / "attributes/copych" / table.name.replace("camelsch", "copych")).write_text(text)
    caravan = Caravan(source, ["camelsch_4001", "copych_4003"])
    attributes, _ = caravan.read_attributes()
    assert list(attributes.index) == ["camelsch_4001", "copych_4003"]
    assert attributes.loc["copych_4003", "gauge_name"] == "Hoelzlebruck"
    assert attributes.loc["camelsch_4001", "gauge_name"] == "Tegernau"
    expected = raw_csv("camelsch_4003")[list(CARAVAN_COLUMNS)]
    pd.testing.assert_frame_equal(caravan.read_basin("copych_4003"), expected)


# Bad input: each failure is one line naming the file.


def test_missing_directory_is_named(tmp_path: Path) -> None:
    message = ingest_error("caravan", tmp_path / "nowhere")
    assert "nowhere" in message and "not found" in message


def test_listed_basin_without_files_is_named(source: Path) -> None:
    message = ingest_error("caravan", source, ["camelsch_4001", "camelsch_9999"])
    assert "camelsch_9999" in message and "timeseries" in message


@pytest.mark.parametrize(
    ("basin", "line", "old", "new", "expected"),
    [
        # The second basin lacks a column the first has: the variables must be the same.
        (
            "camelsch_4003",
            1,
            ",potential_evaporation_sum,",
            ",pet,",
            ["header has no column 'potential_evaporation_sum'"],
        ),
        (
            "camelsch_4001",
            100,
            "1981-04-09",
            "1981-04-31",
            ["unparsable date '1981-04-31' on line 100"],
        ),
        (
            "camelsch_4001",
            100,
            "1981-04-09",
            "1981-04-08",
            ["duplicated date 1981-04-08 on line 100"],
        ),
        (
            "camelsch_4001",
            100,
            "1981-04-09,",
            "1981-04-09,n.a.",
            ["non-numeric value 'n.a.", "column 'snow_depth_water_equivalent_mean' on line 100"],
        ),
    ],
    ids=["missing-column", "unparsable-date", "duplicated-date", "non-numeric-value"],
)
def test_corrupt_series_file_is_named_with_the_problem(
    source: Path, basin: str, line: int, old: str, new: str, expected: list[str]
) -> None:
    file = source / CSV_DIR / f"{basin}.csv"
    replace_line(file, line, old, new)
    message = ingest_error("caravan", source)
    assert file.name in message
    for part in expected:
        assert part in message


def test_attribute_table_without_a_basin_leaves_its_attributes_missing_and_warns(
    source: Path,
) -> None:
    file = source / ATTRIBUTES_DIR / "attributes_hydroatlas_camelsch.csv"
    drop_lines(file, "camelsch_4003,")
    with log_lines() as lines:
        store = xr.open_zarr(ingest("caravan", source, source.parent / "store.zarr"))
    missing = store["ele_mt_sav"].to_series().isna()
    assert missing.to_dict() == {"camelsch_4001": False, "camelsch_4003": True}
    assert float(store["area"].sel(basin="camelsch_4003")) > 0  # from another table
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1 and f"{file.name} lacks camelsch_4003" in warnings[0]


def test_netcdf_date_problem_is_placed_by_position(tmp_path: Path) -> None:
    """A netCDF file has no lines: a repeated date is named by its index along ``date``."""
    nc_dir = tmp_path / "caravan/timeseries/netcdf/synth"
    nc_dir.mkdir(parents=True)
    (tmp_path / "caravan/attributes").mkdir()
    dates = pd.to_datetime(["2000-01-01", "2000-01-02", "2000-01-02"])
    ds = xr.Dataset({"streamflow": ("date", [1.0, 2.0, 3.0])}, coords={"date": dates})
    ds.to_netcdf(nc_dir / "synth_1.nc", engine="netcdf4")
    with pytest.raises(
        IngestError, match=r"synth_1\.nc: duplicated date 2000-01-02 at position 2$"
    ):
        Caravan(tmp_path / "caravan").read_basin("synth_1")
