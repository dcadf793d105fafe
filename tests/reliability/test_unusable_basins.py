"""Basins that cannot be used: named when the run is planned, explained in metrics.csv.

A basin without one window of complete inputs in a period cannot be trained on or predicted
there; planning warns with its id, and its metrics row carries a ``note`` instead of silent
NaN. Synthetic: the tiny store with one basin's precipitation removed over 1993 (the
evaluation period). Real: CAMELS-CH 4001 and 4003, which have no temperature at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.ingest import ingest
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.rechunk import write_summary
from regional_lstm.data.scan import basins_without_windows
from regional_lstm.data.summary import open_summary
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.models import build_model
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.results import write_results
from tests.conftest import edited_store, log_lines, shared_dataset, tiny_config, write_basin_list

EVALUATION = Period.parse([1993, 1993])


def without_prcp(store, path, basin: str, start: str, end: str):
    """A copy of ``store`` whose precipitation of ``basin`` is NaN over [start, end]."""

    def edit(ds):
        ds["prcp"].loc[{"basin": basin, "time": slice(start, end)}] = np.nan
        return ds

    return edited_store(store, path, edit)


@pytest.fixture(scope="module")
def gap_store(tiny_store, tmp_path_factory):
    """The tiny store with basin 3 (of 6) without precipitation in 1993."""
    basin = str(StoreReader(tiny_store).basins[3])
    path = tmp_path_factory.mktemp("gap") / "store.zarr"
    return without_prcp(tiny_store, path, basin, "1993-01-01", "1993-12-31"), basin


def warnings_of(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("warning:")]


def test_planning_names_the_basin_without_an_input_window_in_the_evaluation_period(
    gap_store, tmp_path
):
    store, basin = gap_store
    with log_lines() as lines:
        make_plan(tiny_config(store, tmp_path))
    (warning,) = warnings_of(lines)
    assert "no complete 60-day input window in the evaluation period 1993-01-01..1993-12-31" in (
        warning
    )
    assert warning.endswith(f": {basin}")


def test_planning_names_a_basin_that_takes_no_part_in_training(tiny_store, tmp_path):
    basin = str(StoreReader(tiny_store).basins[1])
    store = without_prcp(tiny_store, tmp_path / "s.zarr", basin, "1990-01-01", "1992-12-31")
    with log_lines() as lines:
        plan = make_plan(tiny_config(store, tmp_path / "project"))
    assert plan.counts[basin] == 0
    (warning,) = warnings_of(lines)
    assert "take no part in training" in warning and warning.endswith(f": {basin}")


def test_a_store_summary_finds_the_same_unusable_basins_as_the_values(gap_store, tmp_path):
    store, basin = gap_store
    reader = StoreReader(store)
    plan_data = make_plan(tiny_config(store, tmp_path)).data
    from_values = basins_without_windows(reader, list(reader.basins), EVALUATION, plan_data)
    summarized = edited_store(store, tmp_path / "summarized.zarr", lambda ds: ds)
    write_summary(summarized)
    summary_reader = StoreReader(summarized)
    names = list(plan_data.dynamic)
    assert open_summary(summary_reader.path, summary_reader.time, 6, names) is not None
    assert open_summary(reader.path, reader.time, 6, names) is None
    from_summary = basins_without_windows(
        summary_reader, list(reader.basins), EVALUATION, plan_data
    )
    assert from_values == from_summary == [basin]


def frame(days: pd.DatetimeIndex, simulated: float, observed: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"streamflow_obs": np.full(len(days), observed), "streamflow_sim": simulated}, index=days
    )


def test_metrics_rows_say_why_they_are_empty(tiny_store, tmp_path):
    days = pd.date_range("1993-01-01", "1993-12-31")
    a, b, c = (str(basin) for basin in StoreReader(tiny_store).basins[:3])
    predictions = {
        a: frame(days, 1.0, 1.0) + np.linspace(0, 1, len(days))[:, None],
        b: frame(days, np.nan, 1.0),
        c: frame(days, 1.0, np.nan),
    }
    evaluation = write_results(
        tmp_path, StoreReader(tiny_store), [predictions], plots=False, lookback=365
    )
    table = pd.read_csv(tmp_path / "metrics.csv", index_col="basin", dtype={"basin": str})
    notes = table["note"].fillna("").to_dict()
    assert notes == {
        a: "",
        b: "no complete 365-day input window in evaluation period 1993-01-01..1993-12-31",
        c: "no observed streamflow on a predicted day in 1993-01-01..1993-12-31",
    }
    assert np.isnan(table.loc[[b, c], "NSE"]).all()
    assert evaluation.summary["n_basins"] == 3


# --- CAMELS-CH 4001 and 4003: precipitation and discharge, but no temperature or sunshine ----


@pytest.fixture(scope="module")
def camels_ch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("camels_ch")
    basins = write_basin_list(folder / "basins.txt", ["2109", "4001", "4003", "5003"])
    return ingest(
        "camels-ch", shared_dataset("camels_ch"), folder / "store.zarr", basins_file=basins
    )


def camels_ch_config(store, project):
    return tiny_config(
        store,
        project,
        DYNAMIC_INPUTS=["precipitation", "temperature_mean", "rel_sun_dur"],
        STATIC_ATTRIBUTES=["area"],
        CALIBRATION_PERIOD=[2000, 2005],
        VALIDATION_PERIOD=[2010, 2020],
        LSTM_LOOKBACK=365,
    )


@pytest.mark.shared_data
def test_camels_ch_basins_without_temperature_are_named_when_planned(camels_ch, tmp_path):
    with log_lines() as lines:
        make_plan(camels_ch_config(camels_ch, tmp_path))
    training, evaluation = warnings_of(lines)
    assert training.endswith("so they take no part in training: 4001, 4003")
    assert "no complete 365-day input window in the evaluation period 2010-01-01..2020-12-31" in (
        evaluation
    )
    assert evaluation.endswith(": 4001, 4003")


@pytest.mark.shared_data
def test_camels_ch_metrics_rows_of_those_basins_say_why_they_are_empty(camels_ch, tmp_path):
    """An untrained model stands in for a trained one: which days get a prediction depends on
    the inputs only."""
    plan = make_plan(camels_ch_config(camels_ch, tmp_path))
    card = ModelCard(plan.model, plan.data, plan.norm, plan.basins, {}, {})
    reader = StoreReader(camels_ch)
    period = Period.parse([2019, 2020])  # two years keep the exact pass short
    predictions = predict_period(build_model(plan.model), card, reader, plan.basins, period)
    evaluation = write_results(tmp_path, reader, [predictions], plots=False, lookback=365)
    notes = evaluation.metrics["note"]
    expected = "no complete 365-day input window in evaluation period 2019-01-01..2020-12-31"
    assert notes.to_dict() == {"2109": "", "4001": expected, "4003": expected, "5003": ""}
    assert np.isfinite(evaluation.metrics.loc[["2109", "5003"], "NSE"]).all()
