"""Basin ids are data, not paths: an id such as ``../x``, ``/etc/x``, ``a/b``, one with NUL or a
newline, or thousands of characters long, from a basin list, a file name, a mapping, a config
or a store, is refused in one line before any path is built from it; nothing is written."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from regional_lstm.config import load_config
from regional_lstm.data.ingest import ingest
from regional_lstm.data.store import open_store
from regional_lstm.errors import ConfigError, IngestError, StoreError
from regional_lstm.pipeline.planning import make_plan
from tests.conftest import (
    NH_CAMELS_US,
    ROOT,
    assert_one_line_error,
    edited_store,
    ingest_error,
    run_cli,
    tiny_config,
)

REFUSED = "cannot be part of a file name"
HOSTILE = {
    "parent": "../x",
    "grandparents": "../../../x",
    "absolute": "/etc/x",
    "nested": "a/b",
    "dot-dot": "..",
    "nul": "01013500\x00",
    "newline": "01013500\nx",
    "long": "1" * 5000,
    "space": "0101 3500",
}
# What a file name can hold (no '/' or NUL; at most 255 bytes): the ids a `{basin}` pattern finds.
HOSTILE_FILE_NAMES = {"dot-dot": "..", "newline": "Au\nSaumon", "long": "A" * 201, "shell": "$(id)"}


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


def escaped(basin: str) -> str:
    """``basin`` for a double-quoted YAML string: NUL and newline as escapes."""
    return basin.encode("unicode_escape").decode()


@pytest.mark.parametrize("name", [n for n in HOSTILE if "\n" not in HOSTILE[n]])
def test_an_id_in_a_basin_list_is_refused_at_ingest_naming_the_line(camels_us_copy, name):
    before = files_under(camels_us_copy.parent)
    message = ingest_error("camels-us", camels_us_copy, ["01022500", HOSTILE[name]])
    assert "basins.txt, line 2: basin id" in message and REFUSED in message
    assert len(message) < 300
    assert files_under(camels_us_copy.parent) == sorted(
        [*before, camels_us_copy.parent / "basins.txt"]
    )


def test_ingest_refuses_a_basin_list_with_a_path_in_one_line(shared_data, tmp_path):
    basins = tmp_path / "basins.txt"
    basins.write_text("01022500\n../../../x\n")
    store = tmp_path / "us.zarr"
    result = run_cli("ingest", "camels-us", NH_CAMELS_US, "--out", store, "--basins", basins)
    assert result.returncode == 1
    assert_one_line_error(result, f"{basins}, line 2", "basin id '../../../x'", REFUSED)
    assert not store.exists()


def holmes_copy(tmp_path, basin: str) -> tuple:
    """The HOLMES Au_Saumon observations as ``<basin>_Observations.csv``, with a mapping that
    ingests every file the ``{basin}`` pattern finds."""
    holmes = tmp_path / "holmes"
    holmes.mkdir()
    shutil.copy(
        ROOT.parent / "shared" / "data" / "holmes_hydro_pypi" / "Au_Saumon_Observations.csv",
        holmes / f"{basin}_Observations.csv",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "name: holmes\n"
        'files: "{basin}_Observations.csv"\n'
        'date: {column: Date, format: "%Y-%m-%d"}\n'
        "variables:\n"
        "  P: {name: prcp, units: mm/day}\n"
        "  Qo: {name: streamflow, units: mm/day}\n"
    )
    return holmes, mapping


@pytest.mark.parametrize("name", list(HOSTILE_FILE_NAMES))
def test_an_id_from_a_file_name_is_refused_before_the_store_is_written(shared_data, tmp_path, name):
    holmes, mapping = holmes_copy(tmp_path, HOSTILE_FILE_NAMES[name])
    message = ingest_error("csv", holmes, mapping=mapping)
    assert message.startswith(f"{holmes}: basin id ") and REFUSED in message


def test_a_plain_id_from_a_file_name_is_ingested(shared_data, tmp_path):
    holmes, mapping = holmes_copy(tmp_path, "Au_Saumon-2.v1")
    store = ingest("csv", holmes, tmp_path / "store.zarr", mapping=mapping)
    assert list(open_store(store)["basin"].values) == ["Au_Saumon-2.v1"]


@pytest.mark.parametrize("name", ["grandparents", "absolute", "newline", "long"])
def test_an_id_in_a_mapping_is_refused_naming_the_mapping(shared_data, tmp_path, name):
    holmes, mapping = holmes_copy(tmp_path, "Au_Saumon")
    mapping.write_text(mapping.read_text() + f'basins: ["{escaped(HOSTILE[name])}"]\n')
    message = ingest_error("csv", holmes, mapping=mapping)
    assert message.startswith(f"{mapping}: basins: basin id ") and REFUSED in message


@pytest.mark.parametrize("name", list(HOSTILE))
def test_an_id_in_a_config_is_refused_when_it_loads(tmp_path, name):
    config = tmp_path / "config.yaml"
    example = (ROOT / "experiments" / "example_full.yaml").read_text()
    basins = f'["01013500", "{escaped(HOSTILE[name])}"]'
    config.write_text(example.replace("\nBASINS: null", f"\nBASINS: {basins}"))
    with pytest.raises(ConfigError, match=rf"config\.yaml: BASINS: basin id .* {REFUSED}"):
        load_config(config)


def test_an_id_in_a_config_basins_file_is_refused_naming_the_line(tmp_path):
    basins = tmp_path / "basins.txt"
    basins.write_text("01013500\n# a comment\n/etc/x\n")
    config = tmp_path / "config.yaml"
    example = (ROOT / "experiments" / "example_full.yaml").read_text()
    config.write_text(example.replace("\nBASINS: null", f"\nBASINS: {basins}"))
    with pytest.raises(ConfigError, match=rf"BASINS: {basins}, line 3: basin id '/etc/x' "):
        load_config(config).basin_ids()


@pytest.fixture(scope="module", params=["grandparents", "absolute", "nul", "newline", "long"])
def hostile_store(request, tiny_store, tmp_path_factory):
    """The tiny store with its last basin renamed to a hostile id."""

    def rename(ds):
        basins = [*ds["basin"].values[:-1], HOSTILE[request.param]]
        return ds.assign_coords(basin=np.array(basins, dtype=object))

    path = tmp_path_factory.mktemp("hostile") / "deep" / "er" / "store.zarr"
    return edited_store(tiny_store, path, rename)


def test_a_store_with_an_id_that_is_a_path_is_refused_before_training(hostile_store, tmp_path):
    project = tmp_path / "a" / "b" / "c" / "project"
    with pytest.raises(StoreError, match=rf"^{hostile_store}: basin id .* {REFUSED}"):
        make_plan(tiny_config(hostile_store, project))
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("hostile_store", ["grandparents"], indirect=True)
def test_inspect_refuses_a_store_with_an_id_that_is_a_path_in_one_line(hostile_store, tmp_path):
    result = run_cli("inspect", hostile_store, cwd=tmp_path)
    assert_one_line_error(result, str(hostile_store), "basin id", REFUSED)
    assert len(result.stderr) < 400


def test_a_basin_list_that_is_not_utf8_is_refused_in_one_line(camels_us_copy):
    """Was a raw UnicodeDecodeError from the basin list reader."""
    basins = camels_us_copy.parent / "basins.txt"
    basins.write_bytes("01022500\n0102250é\n".encode("latin-1"))
    store = camels_us_copy.parent / "store.zarr"
    with pytest.raises(IngestError, match=r"basins\.txt: basin list is not UTF-8 text \(byte 16\)"):
        ingest("camels-us", camels_us_copy, store, basins_file=basins)


def test_a_config_basins_file_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    """Was a raw UnicodeDecodeError from Config.basin_ids."""
    basins = tmp_path / "basins.txt"
    basins.write_bytes("0102250é\n".encode("latin-1"))
    config = tmp_path / "config.yaml"
    example = (ROOT / "experiments" / "example_full.yaml").read_text()
    config.write_text(example.replace("\nBASINS: null", f"\nBASINS: {basins}"))
    with pytest.raises(ConfigError, match=rf"BASINS: cannot read {basins} \(not UTF-8 text\)"):
        load_config(config).basin_ids()


# A variable's name names its array's folder in the store: the same rule as a file name.
HOSTILE_VARIABLES = {"nested": "prcp(mm/day)", "hidden": ".prcp", "long": "p" * 300}


@pytest.mark.parametrize("name", list(HOSTILE_VARIABLES))
def test_a_variable_named_like_a_path_in_a_mapping_is_refused_at_ingest(
    shared_data, tmp_path, name
):
    holmes, mapping = holmes_copy(tmp_path, "Au_Saumon")
    variable = HOSTILE_VARIABLES[name]
    mapping.write_text(mapping.read_text().replace("{name: prcp,", f"{{name: '{variable}',"))
    message = ingest_error("csv", holmes, mapping=mapping)
    assert message.startswith(f"{holmes}: variable name ")
    assert "cannot name an array in a store" in message


def test_an_attribute_header_too_long_for_a_folder_is_refused_at_ingest(camels_us_copy):
    """Was an OSError 'File name too long' from Zarr, found by the Caravan property test."""
    topo = camels_us_copy / "camels_attributes_v2.0" / "camels_topo.txt"
    topo.write_text(topo.read_text().replace("elev_mean", "9" * 400, 1))
    message = ingest_error("camels-us", camels_us_copy)
    assert f"variable name '{'9' * 40}" in message and "at most 200 bytes" in message


@pytest.mark.parametrize("coordinate", ["basin", "time"])
def test_an_attribute_named_like_a_coordinate_is_refused_at_ingest(camels_us_copy, coordinate):
    """Was xarray's traceback 'variables {'time'} are found in both data_vars and coords'."""
    topo = camels_us_copy / "camels_attributes_v2.0" / "camels_topo.txt"
    topo.write_text(topo.read_text().replace("elev_mean", coordinate, 1))
    message = ingest_error("camels-us", camels_us_copy)
    assert message == f"{camels_us_copy}: variable name {coordinate!r} is a coordinate of the store"
