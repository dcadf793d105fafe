"""Bad CAMELS-US input: one line naming the file and the problem, and no store left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from regional_lstm.data.ingest import ingest
from regional_lstm.data.store import open_store
from regional_lstm.errors import IngestError
from tests.conftest import drop_lines, edit_line, ingest_error, log_lines, write_basin_list

FORCING = "basin_mean_forcing/daymet/01547700_lump_cida_forcing_leap.txt"
FLOW = "usgs_streamflow/01547700_streamflow_qc.txt"


def assert_fails_cleanly(root: Path, *needles: str, **options) -> None:
    message = ingest_error("camels-us", root, **options)
    for needle in needles:
        assert needle in message


def test_missing_directory(tmp_path):
    assert_fails_cleanly(tmp_path / "nowhere", "nowhere", "not found")


def test_unknown_forcing(camels_us_copy):
    assert_fails_cleanly(camels_us_copy, "--forcing", "'era5'", forcing="era5")


def test_basin_in_list_without_files(camels_us_copy):
    assert_fails_cleanly(camels_us_copy, "99999999", "no files", basins=["01547700", "99999999"])


def test_header_without_expected_column(camels_us_copy):
    edit_line(
        camels_us_copy / FORCING, 4, lambda line: line.replace("prcp(mm/day)", "rain(mm/day)")
    )
    assert_fails_cleanly(camels_us_copy, "01547700_lump_cida", "'prcp'")


def test_unparsable_date(camels_us_copy):
    edit_line(camels_us_copy / FORCING, 10, lambda line: "2000 13" + line[7:])
    assert_fails_cleanly(camels_us_copy, "01547700_lump_cida", "unparsable date", "line 10")


def test_duplicated_date(camels_us_copy):
    edit_line(camels_us_copy / FLOW, 5, lambda line: line * 2)  # line 5 again as line 6
    assert_fails_cleanly(
        camels_us_copy, "01547700_streamflow_qc", "duplicated date 2000-01-05", "line 6"
    )


def test_non_numeric_value(camels_us_copy):
    edit_line(camels_us_copy / FLOW, 3, lambda line: line.replace(line.split()[4], "lots"))
    assert_fails_cleanly(
        camels_us_copy, "01547700_streamflow_qc", "non-numeric value 'lots'", "line 3"
    )


def test_attribute_table_without_a_basin_ingests_it_with_those_attributes_missing(
    camels_us_copy, tmp_path
):
    drop_lines(camels_us_copy / "camels_attributes_v2.0/camels_soil.txt", "03015500")
    with log_lines() as lines:
        store = open_store(ingest("camels-us", camels_us_copy, tmp_path / "s.zarr"))
    soil = store["soil_porosity"].to_series()
    assert soil.isna().to_dict() == {b: b == "03015500" for b in soil.index}
    assert not np.isnan(float(store["p_mean"].sel(basin="03015500")))
    assert [line for line in lines if line.startswith("warning:")] == [
        f"warning: attribute tables in {camels_us_copy / 'camels_attributes_v2.0'} have no row "
        "for some basins, ingested with those attributes missing (a run that uses one of them "
        "refuses those basins): camels_soil.txt lacks 03015500"
    ]


def test_missing_streamflow_file(camels_us_copy):
    (camels_us_copy / FLOW).unlink()
    assert_fails_cleanly(camels_us_copy, "01547700", "streamflow")


def test_failed_overwrite_keeps_the_old_store(camels_us_copy, tmp_path):
    out = tmp_path / "s.zarr"
    basins = write_basin_list(tmp_path / "b.txt", ["01547700"])
    ingest("camels-us", camels_us_copy, out, basins_file=basins)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    edit_line(camels_us_copy / FLOW, 3, lambda line: line.replace(line.split()[4], "x"))
    with pytest.raises(IngestError):
        ingest("camels-us", camels_us_copy, out, basins_file=basins, overwrite=True)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
