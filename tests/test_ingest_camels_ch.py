"""CAMELS-CH ingest, checked against the real files in ../shared/data/camels_ch."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from regional_lstm.config import Config
from regional_lstm.data.ingest import ingest
from regional_lstm.data.inspect import summarize_store
from regional_lstm.errors import StoreError
from regional_lstm.pipeline.planning import make_plan
from tests.conftest import (
    drop_lines,
    ingest_error,
    log_lines,
    replace_line,
    shared_dataset,
    write_basin_list,
)

pytestmark = pytest.mark.shared_data

# 4001 (Germany) has gaps, 5003 (France) has hydrological years with > 5 % missing discharge,
# 2109 is an alpine basin with a non-ASCII gauge name in the latin-1 topographic table.
BASINS = ["4001", "5003", "2109"]
SERIES_FILE = "time_series/observation_based/CAMELS_CH_obs_based_{}.csv"


def raw_series(basin: str) -> pd.DataFrame:
    file = shared_dataset("camels_ch") / SERIES_FILE.format(basin)
    return pd.read_csv(file, index_col="date", parse_dates=["date"])


def raw_attributes(topic: str) -> pd.DataFrame:
    file = shared_dataset("camels_ch") / f"static_attributes/CAMELS_CH_{topic}.csv"
    table = pd.read_csv(file, skiprows=1, encoding="latin-1", dtype={"gauge_id": str})
    return table.set_index("gauge_id")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> xr.Dataset:
    folder = tmp_path_factory.mktemp("camels_ch")
    path = ingest(
        "camels-ch",
        shared_dataset("camels_ch"),
        folder / "store.zarr",
        basins_file=write_basin_list(folder / "basins.txt", BASINS),
    )
    return xr.open_zarr(path)


def hydrological_year_mean(q: pd.Series, start: str, end: str) -> float:
    """Mean over the hydrological years (Oct-Sep) of [start, end] with <= 5 % missing days."""
    window = q[start:end]
    year = (window.index - pd.DateOffset(months=9)).year
    complete = window.isna().groupby(year).mean() <= 0.05
    return float(window[complete.reindex(year).to_numpy()].mean())


def test_q_mean_is_reproduced_from_stored_streamflow(store: xr.Dataset) -> None:
    signatures = raw_attributes("hydrology_attributes_obs")
    for basin in BASINS:
        row = signatures.loc[basin]
        q = store["streamflow"].sel(basin=basin).to_series()
        reproduced = hydrological_year_mean(q, row["sign_start_date"], row["sign_end_date"])
        # Measured: |difference| <= 0.0005 mm/day for all 50 sample basins (rounding of q_mean).
        assert abs(reproduced - row["q_mean"]) < 0.02, basin


def test_raw_values_of_a_known_day_are_stored(store: xr.Dataset) -> None:
    day = "2005-08-22"  # the August 2005 flood, with SWE, sunshine and discharge all present
    for basin in BASINS:
        raw = raw_series(basin).loc[day]
        stored = store.sel(basin=basin, time=day)
        for store_name, column in [
            ("streamflow", "discharge_spec(mm/d)"),
            ("discharge_vol", "discharge_vol(m3/s)"),
            ("precipitation", "precipitation(mm/d)"),
            ("temperature_max", "temperature_max(degC)"),
            ("rel_sun_dur", "rel_sun_dur(%)"),
            ("swe", "swe(mm)"),
        ]:
            np.testing.assert_allclose(
                float(stored[store_name]), raw[column], rtol=1e-6, err_msg=f"{basin} {store_name}"
            )


def test_every_variable_has_units_and_a_long_name(store: xr.Dataset) -> None:
    for name, variable in store.data_vars.items():
        assert variable.attrs.get("units"), name
        assert variable.attrs.get("long_name"), name


def test_series_units_come_from_the_header(store: xr.Dataset) -> None:
    units = {name: store[name].attrs["units"] for name in store.data_vars}
    assert units["streamflow"] == "mm/day"
    assert units["swe"] == "mm"
    assert units["precipitation"] == "mm/d"
    assert units["temperature_min"] == "degC"
    assert units["rel_sun_dur"] == "%"
    assert units["discharge_vol"] == "m3/s"
    assert units["waterlevel"] == "m"
    assert "discharge_spec" not in store


def test_area_is_the_topographic_table_area(store: xr.Dataset) -> None:
    topographic = raw_attributes("topographic_attributes")
    np.testing.assert_array_equal(store["area"].values, topographic.loc[BASINS, "area"].values)
    assert store["area"].attrs["units"] == "km2"


def test_latin1_gauge_names_are_decoded(store: xr.Dataset) -> None:
    assert store["gauge_name"].sel(basin="2109").values.item() == "Gsteig"
    assert store["water_body_name"].sel(basin="2109").values.item() == "Lütschine"


def test_store_opens_with_plain_xarray(store: xr.Dataset) -> None:
    assert store["streamflow"].dims == ("basin", "time")
    assert list(store["basin"].values) == BASINS
    for name in ["streamflow", "swe", "precipitation", "waterlevel"]:
        assert store[name].dtype == np.float32


# Bad input: each failure is one line naming the file.


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the CAMELS-CH layout with the series of one basin, 2109, to corrupt."""
    real = shared_dataset("camels_ch")
    copy = tmp_path / "camels_ch"
    (copy / SERIES_FILE.format("x")).parent.mkdir(parents=True)
    shutil.copy(real / SERIES_FILE.format("2109"), copy / SERIES_FILE.format("2109"))
    (copy / "static_attributes").mkdir()
    for table in (real / "static_attributes").glob("CAMELS_CH_*.csv"):
        shutil.copy(table, copy / "static_attributes" / table.name)
    return copy


def test_missing_directory_is_named(tmp_path: Path) -> None:
    message = ingest_error("camels-ch", tmp_path / "nowhere")
    assert "nowhere" in message and "not found" in message


def test_listed_basin_without_files_is_named(source: Path) -> None:
    message = ingest_error("camels-ch", source, ["2109", "9999"])
    assert "9999" in message and "observation_based" in message


@pytest.mark.parametrize(
    ("line", "old", "new", "expected"),
    [
        (1, "swe(mm)", "snow(mm)", ["header has no column 'swe(mm)'"]),
        (100, "1981-04-09", "1981-04-31", ["unparsable date '1981-04-31' on line 100"]),
        (100, "1981-04-09", "1981-04-08", ["duplicated date 1981-04-08 on line 100"]),
        (
            100,
            "1981-04-09,",
            "1981-04-09,n.a.",
            ["non-numeric value 'n.a.", "column 'discharge_vol(m3/s)' on line 100"],
        ),
    ],
    ids=["missing-column", "unparsable-date", "duplicated-date", "non-numeric-value"],
)
def test_corrupt_series_file_is_named_with_the_problem(
    source: Path, line: int, old: str, new: str, expected: list[str]
) -> None:
    file = source / SERIES_FILE.format("2109")
    replace_line(file, line, old, new)
    message = ingest_error("camels-ch", source)
    assert file.name in message
    for part in expected:
        assert part in message


def test_attribute_table_without_a_basin_leaves_its_attributes_missing_and_warns(
    source: Path,
) -> None:
    file = source / "static_attributes" / "CAMELS_CH_glacier_attributes.csv"
    drop_lines(file, "2109,")
    with log_lines() as lines:
        store = xr.open_zarr(ingest("camels-ch", source, source.parent / "store.zarr"))
    assert np.isnan(float(store["glac_area"].sel(basin="2109")))
    assert float(store["area"].sel(basin="2109")) > 0
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert f"{file.name} lacks 2109" in warning


# Real cells that hold no usable number: the soil table's root_depth_skewness is 'Inf' or '-Inf'
# for 21 basins, three of them (2308, 2369, 2374) among the 50 of ../shared/data/camels_ch.


@pytest.fixture(scope="module")
def infinite_skewness(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """2308 ('Inf') and 2369 ('-Inf') beside 2070 (finite), ingested; the log lines."""
    folder = tmp_path_factory.mktemp("camels_ch_inf")
    with log_lines() as lines:
        path = ingest(
            "camels-ch",
            shared_dataset("camels_ch"),
            folder / "store.zarr",
            basins_file=write_basin_list(folder / "basins.txt", ["2070", "2308", "2369"]),
        )
    return path, lines


def test_infinite_attribute_cells_are_stored_as_missing(infinite_skewness) -> None:
    ds = xr.open_zarr(infinite_skewness[0])
    skewness = ds["root_depth_skewness"].to_series()
    assert skewness[["2308", "2369"]].isna().all() and np.isfinite(skewness["2070"])
    assert ds["root_depth_skewness"].attrs["unusable_values"] == {
        "CAMELS_CH_soil_attributes.csv": {"2308": "Inf", "2369": "-Inf"}
    }
    assert np.isfinite(ds["root_depth"].to_series()).all()  # the rest of the row is kept


def test_infinite_attribute_cells_are_named_once_in_a_warning(infinite_skewness) -> None:
    (warning,) = [line for line in infinite_skewness[1] if line.startswith("warning:")]
    assert "CAMELS_CH_soil_attributes.csv root_depth_skewness (-Inf, Inf) for 2308, 2369" in warning
    assert "\n" not in warning


def test_inspect_names_the_table_and_basins_of_infinite_cells(infinite_skewness) -> None:
    summary = summarize_store(infinite_skewness[0])
    (skewness,) = [a for a in summary["static_attributes"] if a["name"] == "root_depth_skewness"]
    assert skewness["missing"] == 2
    assert skewness["unusable_values"]["CAMELS_CH_soil_attributes.csv"] == {
        "2308": "Inf",
        "2369": "-Inf",
    }
    assert "root_depth_skewness" in summary["basins_missing_attributes"]["2308"]
    assert "root_depth_skewness" not in summary["basins_missing_attributes"].get("2070", [])


def test_a_run_using_the_attribute_refuses_naming_basins_and_table(
    infinite_skewness, tmp_path: Path
) -> None:
    config = camels_ch_config(infinite_skewness[0], tmp_path, ["root_depth", "root_depth_skewness"])
    with pytest.raises(StoreError) as caught:
        make_plan(config)
    assert (
        "'root_depth_skewness' for basin(s) 2308, 2369 (not a finite number in "
        "CAMELS_CH_soil_attributes.csv)" in str(caught.value)
    )


def test_a_run_without_the_attribute_plans_every_basin(infinite_skewness, tmp_path: Path) -> None:
    plan = make_plan(camels_ch_config(infinite_skewness[0], tmp_path, ["root_depth", "area"]))
    assert plan.basins == ["2070", "2308", "2369"]


def camels_ch_config(store: Path, project: Path, attributes: list[str]) -> Config:
    return Config.from_mapping(
        {
            "DOMAIN_NAME": "ch",
            "DATA_STORE": str(store),
            "PROJECT_DIR": str(project),
            "DYNAMIC_INPUTS": ["precipitation", "temperature_mean"],
            "STATIC_ATTRIBUTES": attributes,
            "CALIBRATION_PERIOD": [2000, 2003],
            "VALIDATION_PERIOD": [2004, 2005],
            "LSTM_LOOKBACK": 90,
        }
    )


def test_the_extended_folders_hardest_basins_ingest(tmp_path: Path) -> None:
    """camels_ch_extended is unfiltered: 2206 has a '-Inf' attribute cell, 2004 no discharge at
    all (a lake level gauge), 2613 drains 36,404 km2, 3011 has no temperature and 5002 no
    precipitation for 27 % of its days. Each is ingested; the whole folder (266 basins) was too,
    by hand, in 18 s."""
    basins = ["2206", "2004", "2613", "3011", "5002"]
    with log_lines() as lines:
        path = ingest(
            "camels-ch",
            shared_dataset("camels_ch_extended"),
            tmp_path / "store.zarr",
            basins_file=write_basin_list(tmp_path / "basins.txt", basins),
        )
    ds = xr.open_zarr(path)
    assert list(ds["basin"].values) == basins
    assert ds["streamflow"].sel(basin="2004").isnull().all()
    assert ds["temperature_mean"].sel(basin="3011").isnull().all()
    assert float(ds["area"].sel(basin="2613")) == pytest.approx(36404.4)
    assert np.isnan(float(ds["root_depth_skewness"].sel(basin="2206")))
    (warning,) = [line for line in lines if "not finite numbers" in line]
    assert "root_depth_skewness (-Inf) for 2206" in warning
