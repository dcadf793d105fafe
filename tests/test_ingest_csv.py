"""The csv adapter: mapping YAMLs over real CSV datasets, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from regional_lstm.data.ingest import ingest
from regional_lstm.data.ingest.csv_mapping import load_mapping
from regional_lstm.data.ingest.csv_source import CsvSource
from regional_lstm.data.store import dynamic_names, open_store
from regional_lstm.errors import IngestError
from tests.conftest import ingest_error, log_lines, shared_dataset, write_basin_list

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
FLOAT32_RTOL = 1e-6


def daymet_forcing(basin: str) -> pd.DataFrame:
    """The original CAMELS-US Daymet forcing file of a basin, indexed by date."""
    camels = shared_dataset("camels_us_neuralhydrology_testdata") / "camels_us"
    file = camels / "basin_mean_forcing" / "daymet" / f"{basin}_lump_cida_forcing_leap.txt"
    raw = pd.read_csv(file, sep=r"\s+", skiprows=3)
    raw.index = pd.to_datetime({"year": raw["Year"], "month": raw["Mnth"], "day": raw["Day"]})
    return raw


# --- CAMELS-US as shipped by torchHydroNodes ------------------------------------------------------


@pytest.fixture(scope="module")
def torchhydronodes_store(tmp_path_factory):
    source = shared_dataset("camels_us_torchhydronodes")
    shared_dataset("camels_us_neuralhydrology_testdata")  # the mapping's attribute tables
    work = tmp_path_factory.mktemp("torchhydronodes")
    # ids as 569_basin_file.txt writes them
    basins_file = write_basin_list(work / "basins.txt", ["1022500", "01013500"])
    out = ingest(
        "csv",
        source,
        work / "store.zarr",
        basins_file=basins_file,
        mapping=DATASETS / "camels_us_torchhydronodes.yaml",
    )
    return open_store(out)


@pytest.fixture(scope="module")
def camels_us_store(tmp_path_factory):
    source = shared_dataset("camels_us_neuralhydrology_testdata") / "camels_us"
    work = tmp_path_factory.mktemp("camels_us")
    basins_file = write_basin_list(work / "basins.txt", ["01022500"])
    return open_store(ingest("camels-us", source, work / "store.zarr", basins_file=basins_file))


@pytest.mark.shared_data
def test_torchhydronodes_basin_ids_are_zero_padded(torchhydronodes_store):
    assert list(torchhydronodes_store["basin"].values) == ["01022500", "01013500"]


@pytest.mark.shared_data
def test_torchhydronodes_train_and_valid_files_join_without_gap(torchhydronodes_store):
    time = pd.DatetimeIndex(torchhydronodes_store["time"].values)
    assert (time[0], time[-1], len(time)) == (
        pd.Timestamp("1980-10-01"),
        pd.Timestamp("2010-09-30"),
        10957,
    )
    assert not bool(torchhydronodes_store["streamflow"].isnull().any())


@pytest.mark.shared_data
def test_torchhydronodes_dayl_hours_become_seconds(torchhydronodes_store):
    dayl = torchhydronodes_store["dayl"].sel(basin="01022500", time="2000-01-01")
    assert dayl.attrs["units"] == "s"
    assert float(dayl) == pytest.approx(31185.97, rel=FLOAT32_RTOL)


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("variable", "column"),
    [
        ("dayl", "dayl(s)"),
        ("prcp", "prcp(mm/day)"),
        ("tmax", "tmax(C)"),
        ("tmin", "tmin(C)"),
        ("srad", "srad(W/m2)"),
        ("vp", "vp(Pa)"),
    ],
)
def test_torchhydronodes_forcing_equals_original_daymet_file(
    torchhydronodes_store, variable, column
):
    daymet = daymet_forcing("01022500")  # 2000-01-01..2003-12-31
    stored = torchhydronodes_store[variable].sel(basin="01022500", time=daymet.index)
    np.testing.assert_allclose(stored.values, daymet[column].to_numpy(), rtol=FLOAT32_RTOL)


@pytest.mark.shared_data
def test_torchhydronodes_streamflow_is_obs_runoff(torchhydronodes_store):
    files = sorted(
        (shared_dataset("camels_us_torchhydronodes") / "model_results").glob(
            "01013500_results_*.csv"
        )
    )
    raw = pd.concat([pd.read_csv(f, index_col="date", parse_dates=True) for f in files])
    stored = torchhydronodes_store["streamflow"].sel(basin="01013500", time=raw.index)
    np.testing.assert_allclose(
        stored.values, raw["obs_runoff(mm/day)"].to_numpy(), rtol=FLOAT32_RTOL
    )


@pytest.mark.shared_data
def test_torchhydronodes_streamflow_equals_camels_us_adapter(
    torchhydronodes_store, camels_us_store
):
    # Both divide USGS cfs by the Daymet header area: a cross-check of the cfs -> mm/day step.
    adapter = camels_us_store["streamflow"].sel(basin="01022500").dropna("time")
    assert len(adapter) == 1096  # 2000-01-01..2002-12-31
    stored = torchhydronodes_store["streamflow"].sel(basin="01022500", time=adapter["time"])
    np.testing.assert_allclose(stored.values, adapter.values, rtol=FLOAT32_RTOL)


@pytest.mark.shared_data
def test_torchhydronodes_has_the_camels_us_adapter_variables(
    torchhydronodes_store, camels_us_store
):
    assert set(dynamic_names(torchhydronodes_store)) == set(dynamic_names(camels_us_store))


@pytest.mark.shared_data
def test_torchhydronodes_joins_all_camels_attribute_tables(torchhydronodes_store):
    store = torchhydronodes_store.sel(basin="01022500")
    for name in (
        "p_mean",
        "geol_1st_class",
        "q_mean",
        "gauge_name",
        "soil_porosity",
        "elev_mean",
        "frac_forest",
    ):
        assert name in store
    assert store["p_mean"].attrs["units"] == "mm/day"
    assert str(store["gauge_name"].values).startswith("Narraguagus River")


@pytest.mark.shared_data
def test_torchhydronodes_area_is_area_gages2(torchhydronodes_store):
    area = torchhydronodes_store["area"].sel(basin="01022500")
    assert area.attrs["units"] == "km2"
    assert float(area) == pytest.approx(573.6)


# --- HOLMES ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def holmes_store(tmp_path_factory):
    source = shared_dataset("holmes_hydro_pypi")
    out = tmp_path_factory.mktemp("holmes") / "store.zarr"
    return open_store(ingest("csv", source, out, mapping=DATASETS / "holmes.yaml"))


@pytest.mark.shared_data
def test_holmes_values_on_a_known_day(holmes_store):
    day = holmes_store.sel(basin="Au_Saumon", time="1975-03-01")
    values = {name: float(day[name]) for name in ("prcp", "pet", "streamflow", "tmean")}
    assert values == pytest.approx(
        {"prcp": 7.67, "pet": 0.10192640119866982, "streamflow": 0.63, "tmean": -3.75},
        rel=FLOAT32_RTOL,
    )


@pytest.mark.shared_data
def test_holmes_basins_keep_their_own_periods(holmes_store):
    baskatong = holmes_store["streamflow"].sel(basin="Baskatong").dropna("time")
    assert str(baskatong["time"].values[0])[:10] == "1980-01-01"
    assert str(holmes_store["time"].values[-1])[:10] == "2017-12-31"


@pytest.mark.shared_data
def test_holmes_units(holmes_store):
    units = {name: holmes_store[name].attrs["units"] for name in dynamic_names(holmes_store)}
    assert units == {"prcp": "mm/day", "pet": "mm/day", "streamflow": "mm/day", "tmean": "degC"}


@pytest.mark.shared_data
def test_holmes_qnbv_is_snowfall_not_area(holmes_store):
    assert "area" not in holmes_store
    snowfall = holmes_store["snowfall_mean"].sel(basin="Baskatong")
    assert (float(snowfall), snowfall.attrs["units"]) == (432.86, "mm/yr")
    assert float(holmes_store["elev_median"].sel(basin="Au_Saumon")) == 474.0


@pytest.mark.shared_data
def test_holmes_leaf_needs_its_own_mapping(tmp_path):
    basins_file = write_basin_list(tmp_path / "basins.txt", ["Leaf"])
    with pytest.raises(IngestError, match=r"Leaf_CemaNeigeInfo\.csv"):
        ingest(
            "csv",
            shared_dataset("holmes_hydro_pypi"),
            tmp_path / "store.zarr",
            basins_file=basins_file,
            mapping=DATASETS / "holmes.yaml",
        )


# --- synthetic sources: conversions and errors ----------------------------------------------------


@pytest.fixture
def source(tmp_path) -> Path:
    """Two basins with one CSV each (Q in m3/s) and an attribute table with their areas."""
    root = tmp_path / "source"
    root.mkdir()
    (root / "A_1.csv").write_text("date,P,Q,ignored\n2000-01-01,1.0,10,x\n2000-01-02,-999,20,y\n")
    (root / "B_1.csv").write_text("date,P,Q,ignored\n2000-01-01,3.0,5,x\n")
    (root / "attributes.csv").write_text("id,area_km2,kind\nA,100,forest\nB,200,lake\n")
    return root


def base_mapping() -> dict:
    return {
        "name": "synthetic",
        "files": "{basin}_*.csv",
        "date": {"column": "date"},
        "missing_values": [-999],
        "variables": {
            "P": {"name": "prcp", "units": "mm/day"},
            "Q": {"name": "streamflow", "units": "mm/day", "from_units": "m3/s"},
        },
        "attributes": [{"path": "attributes.csv", "id_column": "id"}],
        "area": {"attribute": "area_km2"},
    }


def write_mapping(directory: Path, mapping: dict) -> Path:
    path = directory / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def one_line_error(source: Path, mapping: dict) -> str:
    """The IngestError that ingesting ``source`` with ``mapping`` raises; it must be one line."""
    return ingest_error("csv", source, mapping=write_mapping(source.parent, mapping))


def test_m3s_streamflow_is_converted_with_the_basin_area(source):
    mapping_file = write_mapping(source.parent, base_mapping())
    store = open_store(ingest("csv", source, source.parent / "s.zarr", mapping=mapping_file))
    first = store.sel(time="2000-01-01")
    assert float(first["streamflow"].sel(basin="A")) == pytest.approx(10 * 86.4 / 100)
    assert float(first["streamflow"].sel(basin="B")) == pytest.approx(5 * 86.4 / 200)
    assert float(store["area"].sel(basin="B")) == 200.0


def test_missing_values_become_nan_and_extra_columns_are_ignored(source):
    mapping_file = write_mapping(source.parent, base_mapping())
    store = open_store(ingest("csv", source, source.parent / "s.zarr", mapping=mapping_file))
    assert np.isnan(float(store["prcp"].sel(basin="A", time="2000-01-02")))
    assert "ignored" not in store


def test_unknown_mapping_key_is_named(source):
    mapping = base_mapping()
    mapping["variables"]["P"]["unit"] = "mm"
    message = one_line_error(source, mapping)
    assert "mapping.yaml" in message
    assert "unknown key 'unit' in variables -> P" in message


def test_variable_without_units_is_named(source):
    mapping = base_mapping()
    del mapping["variables"]["P"]["units"]
    message = one_line_error(source, mapping)
    assert "mapping.yaml" in message
    assert "missing key 'units' in variables -> P" in message


def test_unknown_conversion_is_named(source):
    mapping = base_mapping()
    mapping["variables"]["P"]["from_units"] = "furlong/fortnight"
    message = one_line_error(source, mapping)
    assert "mapping.yaml" in message
    assert "column 'P'" in message
    assert "'furlong/fortnight' to 'mm/day'" in message


def test_streamflow_must_be_stored_in_mm_per_day(source):
    mapping = base_mapping()
    mapping["variables"]["Q"] = {"name": "streamflow", "units": "m3/s"}
    assert "streamflow is stored in mm/day" in one_line_error(source, mapping)


def test_area_conversion_without_area_is_refused(source):
    mapping = base_mapping()
    del mapping["area"]
    assert "needs the basin area" in one_line_error(source, mapping)


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("B_1.csv", "date,P\n2000-01-01,3.0\n", "B_1.csv: header has no column 'Q'"),
        (
            "B_1.csv",
            "date,P,Q\n2000-01-01,1,1\n2000-13-45,1,1\n",
            "B_1.csv: unparsable date '2000-13-45' on line 3",
        ),
        (
            "A_2.csv",
            "date,P,Q\n2000-01-02,1,1\n2000-01-03,1,1\n",
            "A_2.csv: duplicated date 2000-01-02 (also in ",
        ),
        (
            "B_1.csv",
            "date,P,Q\n2000-01-01,lots,1\n",
            "B_1.csv: non-numeric value 'lots' in column 'P' on line 2",
        ),
        (
            "attributes.csv",
            "id,area_km2\nA,100\n",
            "mapping.yaml: basin B has no positive area in attribute 'area_km2', needed to convert",
        ),
    ],
    ids=[
        "column missing from header",
        "unparsable date",
        "overlapping files",
        "non-numeric value",
        "attribute table without the area a basin's discharge needs",
    ],
)
def test_bad_source_file_is_one_line_naming_it(source, file, content, expected):
    (source / file).write_text(content)
    assert expected in one_line_error(source, base_mapping())


def test_date_not_matching_format_names_file(source):
    mapping = base_mapping()
    mapping["date"]["format"] = "%d.%m.%Y"
    message = one_line_error(source, mapping)
    assert "A_1.csv: date '2000-01-01' on line 2 does not match format" in message


def test_column_of_true_false_is_not_read_as_numbers(source):
    # pandas' float parser would take it for 1/0; the check on the text names the cell.
    (source / "B_1.csv").write_text("date,P,Q\n2000-01-01,true,1\n2000-01-02,false,1\n")
    message = one_line_error(source, base_mapping())
    assert "B_1.csv: non-numeric value 'true' in column 'P' on line 2" in message


def test_columns_of_zeros_and_ones_are_numbers(source):
    (source / "B_1.csv").write_text("date,P,Q\n2000-01-01,0,1\n2000-01-02,1.0,0\n")
    mapping_file = write_mapping(source.parent, base_mapping())
    values = CsvSource(source, load_mapping(mapping_file)).read_basin("B")
    assert values["prcp"].tolist() == [0.0, 1.0]
    assert values["prcp"].dtype == np.float64


def test_unknown_attribute_units_dataset_is_refused(tmp_path):
    mapping = base_mapping()
    mapping["attribute_units"] = "camels_mars"
    path = write_mapping(tmp_path, mapping)
    with pytest.raises(IngestError, match="no documented units for 'camels_mars'"):
        load_mapping(path)


def test_key_value_attributes_become_columns(source):
    for basin, elevation in (("A", 10), ("B", 20)):
        (source / f"{basin}_info.txt").write_text(f"Z50,{elevation}\nLat,45.5\n")
    mapping = base_mapping()
    mapping["attributes"].append(
        {
            "path": "{basin}_info.txt",
            "layout": "key_value",
            "columns": {"Z50": {"name": "elev_median", "units": "m"}},
        }
    )
    mapping_file = write_mapping(source.parent, mapping)
    store = open_store(ingest("csv", source, source.parent / "s.zarr", mapping=mapping_file))
    assert list(store["elev_median"].values) == [10.0, 20.0]
    assert store["elev_median"].attrs["units"] == "m"
    assert "Lat" not in store


def ingest_warned(source: Path, mapping: dict):
    """The store ingested from ``source`` with ``mapping`` and the warnings logged meanwhile."""
    mapping_file = write_mapping(source.parent, mapping)
    with log_lines() as lines:
        store = open_store(ingest("csv", source, source.parent / "s.zarr", mapping=mapping_file))
    return store, [line for line in lines if line.startswith("warning:")]


def test_attribute_table_without_a_basin_leaves_its_attributes_missing(source):
    (source / "attributes.csv").write_text("id,area_km2,kind\nA,100,forest\nB,200,lake\n")
    (source / "more.csv").write_text("id,slope\nA,0.5\n")
    mapping = base_mapping()
    mapping["attributes"].append({"path": "more.csv", "id_column": "id"})
    store, (warning,) = ingest_warned(source, mapping)
    assert store["slope"].to_series().isna().to_dict() == {"A": False, "B": True}
    assert warning.endswith("more.csv lacks B")


def test_basin_without_its_key_value_file_has_those_attributes_missing(source):
    (source / "A_info.txt").write_text("Z50,10\n")
    mapping = base_mapping()
    mapping["attributes"].append({"path": "{basin}_info.txt", "layout": "key_value"})
    store, (warning,) = ingest_warned(source, mapping)
    assert store["Z50"].to_series().isna().to_dict() == {"A": False, "B": True}
    assert warning.endswith("{basin}_info.txt lacks B")


def test_files_pattern_may_repeat_the_basin_id(tmp_path):
    for folder, basin in (("A", "A"), ("B", "B"), ("C", "X")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{basin}_q.csv").write_text("date,P\n2000-01-01,1\n")
    mapping = {
        "name": "nested",
        "files": "{basin}/{basin}_q.csv",
        "date": {"column": "date"},
        "variables": {"P": {"name": "prcp", "units": "mm/day"}},
    }
    source = CsvSource(tmp_path, load_mapping(write_mapping(tmp_path, mapping)))
    assert source.basins == ["A", "B"]
