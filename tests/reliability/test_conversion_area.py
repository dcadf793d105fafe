"""Units that could be silently wrong: m3/s in the prediction CSVs from the right area.

CAMELS-US streamflow is in cfs; the camels-us adapter converts it to mm/day with the forcing
file header's area and stores that area, so m3/s back from mm/day are the USGS values. The
torchHydroNodes CSVs carry mm/day converted with that same header area, which their store does
not hold: its ``area`` is ``area_gages2``, 2.09 times the header's for 05057200. There the
prediction CSVs' m3/s columns are marked approximate (sidecar and warning).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regional_lstm.data.ingest import ingest
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.store import STREAMFLOW_AREA, open_store
from regional_lstm.evaluation.outputs import M3S_SIDECAR
from regional_lstm.pipeline.results import write_results
from regional_lstm.units import convert
from tests.conftest import log_lines, shared_dataset, write_basin_list

BASIN = "05057200"
DATASETS = Path(__file__).resolve().parents[2] / "datasets"
CFS_TO_M3S = 0.3048**3
RTOL = 1e-5  # float32 in the store, 6 significant digits in the CSV
DAYS = pd.date_range("2000-10-01", "2010-09-30")


def raw_cfs() -> pd.Series:
    """USGS discharge of the basin in cfs, NaN where missing (-999)."""
    sample = shared_dataset("camels_us_cuahsi_sample")
    (file,) = sample.glob(f"usgs_streamflow/*/{BASIN}_streamflow_qc.txt")
    raw = pd.read_csv(file, sep=r"\s+", header=None)
    raw.index = pd.to_datetime({"year": raw[1], "month": raw[2], "day": raw[3]})
    return raw[4].mask(raw[4] == -999.0)


def header_area_km2() -> float:
    sample = shared_dataset("camels_us_cuahsi_sample")
    (file,) = sample.glob(f"basin_mean_forcing/nldas/*/{BASIN}_*_forcing_leap.txt")
    return float(file.read_text().splitlines()[2]) / 1e6


def torchhydronodes_runoff() -> pd.Series:
    files = (shared_dataset("camels_us_torchhydronodes") / "model_results").glob(f"{BASIN}_*.csv")
    frames = [pd.read_csv(f, index_col="date", parse_dates=True) for f in sorted(files)]
    return pd.concat(frames).sort_index()["obs_runoff(mm/day)"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The basin ingested by the camels-us adapter and by the torchHydroNodes csv mapping."""
    work = tmp_path_factory.mktemp("area")
    basins = write_basin_list(work / "basins.txt", [BASIN])
    camels = ingest(
        "camels-us",
        shared_dataset("camels_us_cuahsi_sample"),
        work / "camels.zarr",
        basins_file=basins,
        forcing="nldas",
    )
    shared_dataset("camels_us_neuralhydrology_testdata")  # the mapping's attribute tables
    csv = ingest(
        "csv",
        shared_dataset("camels_us_torchhydronodes"),
        work / "csv.zarr",
        basins_file=basins,
        mapping=DATASETS / "camels_us_torchhydronodes.yaml",
    )
    return {"camels-us": camels, "torchhydronodes": csv}


def observed_m3s(store: Path, results: Path) -> tuple[pd.Series, dict, list[str]]:
    """Results written for a perfect model of the store's streamflow: the CSV's Observed_m3s,
    the m3/s sidecar and the warnings."""
    reader = StoreReader(store)
    q = reader.read_dynamic([BASIN], ["streamflow"], reader.time_slice(DAYS[0], DAYS[-1]))
    dates = reader.time[reader.time_slice(DAYS[0], DAYS[-1])]
    frame = pd.DataFrame({"streamflow_obs": q[0, :, 0], "streamflow_sim": q[0, :, 0]}, dates)
    with log_lines() as lines:
        write_results(results, reader, [{BASIN: frame}], plots=False)
    csv = pd.read_csv(results / f"{BASIN}_LSTM_predictions.csv", index_col="Date", parse_dates=True)
    sidecar = json.loads((results / M3S_SIDECAR).read_text())
    return csv["Observed_m3s"], sidecar, [line for line in lines if line.startswith("warning:")]


@pytest.mark.shared_data
def test_torchhydronodes_runoff_was_converted_with_the_forcing_header_area():
    cfs = raw_cfs().dropna()  # the CUAHSI sample's record: 1993-09-29..2013-10-03
    runoff = torchhydronodes_runoff().reindex(cfs.index).dropna()
    assert len(runoff) > 6000
    with_header = convert(cfs[runoff.index], "cfs", "mm/day", area_km2=header_area_km2())
    np.testing.assert_allclose(runoff, with_header, rtol=RTOL)


@pytest.mark.shared_data
def test_camels_us_observed_m3s_are_the_raw_usgs_values(stores, tmp_path):
    observed, sidecar, warnings = observed_m3s(stores["camels-us"], tmp_path)
    raw = raw_cfs().reindex(observed.index) * CFS_TO_M3S
    assert observed.notna().sum() == raw.notna().sum() > 3000
    np.testing.assert_allclose(observed, raw, rtol=RTOL)
    assert sidecar["exact"] is True and warnings == []


@pytest.mark.shared_data
def test_torchhydronodes_observed_m3s_are_marked_approximate(stores, tmp_path):
    observed, sidecar, warnings = observed_m3s(stores["torchhydronodes"], tmp_path)
    raw = raw_cfs().reindex(observed.index) * CFS_TO_M3S
    area = float(open_store(stores["torchhydronodes"])["area"].sel(basin=BASIN))
    assert area == pytest.approx(1897.33)  # area_gages2
    # What the mark warns of: m3/s from area_gages2 are 2.09 times the USGS values here.
    np.testing.assert_allclose(observed / raw, area / header_area_km2(), rtol=RTOL)
    assert sidecar["exact"] is False and sidecar["note"].startswith("approximate")
    (warning,) = warnings
    assert "m3/s columns of the prediction CSVs are approximate" in warning


@pytest.mark.shared_data
def test_the_stores_record_which_area_converted_streamflow(stores):
    assert open_store(stores["camels-us"]).attrs[STREAMFLOW_AREA] == "area"
    assert STREAMFLOW_AREA not in open_store(stores["torchhydronodes"]).attrs


def test_csv_discharge_converted_at_ingest_comes_back_as_the_source_m3s(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "A_1.csv").write_text("date,Q\n2000-01-01,10\n2000-01-02,12.5\n")
    (source / "attributes.csv").write_text("id,area_km2\nA,100\n")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        "name: synthetic\nfiles: '{basin}_*.csv'\ndate: {column: date}\n"
        "variables: {Q: {name: streamflow, units: mm/day, from_units: m3/s}}\n"
        "attributes: [{path: attributes.csv, id_column: id}]\narea: {attribute: area_km2}\n"
    )
    store = ingest("csv", source, tmp_path / "s.zarr", mapping=mapping)
    assert open_store(store).attrs[STREAMFLOW_AREA] == "area"
    reader = StoreReader(store)
    q = reader.read_dynamic(["A"], ["streamflow"], slice(0, 2))[0, :, 0]
    frame = pd.DataFrame({"streamflow_obs": q, "streamflow_sim": q}, reader.time)
    write_results(tmp_path / "results", reader, [{"A": frame}], plots=False)
    csv = pd.read_csv(tmp_path / "results" / "A_LSTM_predictions.csv")
    np.testing.assert_allclose(csv["Observed_m3s"], [10.0, 12.5], rtol=RTOL)
    assert json.loads((tmp_path / "results" / M3S_SIDECAR).read_text())["exact"] is True
