"""Operational forecasting on real data: the 4 CAMELS-US basins of ../shared/data (Daymet, USGS
streamflow), a model with yesterday's reading as input. Predict (exact and stateful, state carried
from one run to the next, CSV and Zarr), export (ONNX, TorchScript) and serve, end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from regional_lstm.artifacts import load_model
from regional_lstm.config_periods import Period
from regional_lstm.data.ingest import ingest
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.predict import predict_frame, predict_period
from regional_lstm.pipeline.results import evaluate_project
from regional_lstm.tracking.models import log_model, register
from regional_lstm.tracking.runs import closing, start_run
from regional_lstm.workflows.export import export
from regional_lstm.workflows.predict import predict
from tests.conftest import (
    NH_CAMELS_US,
    edited_store,
    model_input,
    tiny_config,
    train_in_process,
)
from tests.interop import physical_windows, run_alone, served_predictions

BASINS = ["01022500", "01547700", "02064000", "03015500"]
SETTINGS = {
    "DOMAIN_NAME": "camels_us_forecast",
    "DYNAMIC_INPUTS": ["prcp", "srad", "tmax", "tmin", "vp", "dayl"],
    "STATIC_ATTRIBUTES": ["area", "aridity", "elev_mean", "frac_snow", "p_mean"],
    "CALIBRATION_PERIOD": ["2000-01-01", "2001-12-31"],
    "VALIDATION_PERIOD": ["2002-01-01", "2002-12-31"],
    "LSTM_LOOKBACK": 90,
    "LSTM_EPOCHS": 3,
    "LSTM_SAMPLES_PER_EPOCH": 2048,
    "LSTM_LAGGED_STREAMFLOW": [1],
}
YEAR = Period.parse("2002-01-01,2002-12-31")


@pytest.fixture(scope="module")
def project(shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("camels_us_forecast")
    store = ingest("camels-us", NH_CAMELS_US, root / "camels_us.zarr")
    config = tiny_config(store, root / "project", **SETTINGS)
    return config, train_in_process(config)


@pytest.fixture(scope="module")
def gauge_down(project, tmp_path_factory):
    """The store with every gauge down for three weeks of March 2002."""
    config, _ = project

    def down(ds):
        ds["streamflow"].loc[{"time": slice("2002-03-01", "2002-03-21")}] = np.nan
        return ds

    path = tmp_path_factory.mktemp("gauge_down") / "store.zarr"
    return edited_store(config.store.url, path, down)


def _flow(folder, basin):
    frame = pd.read_csv(folder / f"{basin}_LSTM_predictions.csv", index_col="Date")
    return frame["Predicted_m3s"].to_numpy()


def test_predict_uses_the_gauge_readings_and_carries_the_state_month_to_month(project, tmp_path):
    config, _ = project
    model = str(config.PROJECT_DIR)
    exact = predict(model, config.store, "2002", tmp_path / "exact")
    evaluation = evaluate_project(config.PROJECT_DIR, period=YEAR, plots=False)
    for basin in BASINS:
        np.testing.assert_allclose(
            _flow(exact.out, basin), _flow(evaluation.results_dir, basin), rtol=2e-5
        )
    # Stateful: January to June, then July to December continued from the saved state, equals
    # one run over the year; the readings of 30 June reach 1 July's prediction.
    year = predict(model, config.store, "2002", tmp_path / "year.zarr", mode="stateful")
    state = tmp_path / "june.state"
    first = predict(
        model,
        config.store,
        "2002-01-01,2002-06-30",
        tmp_path / "a.zarr",
        mode="stateful",
        state_out=state,
    )
    second = predict(
        model,
        config.store,
        "2002-07-01,2002-12-31",
        tmp_path / "b.zarr",
        mode="stateful",
        state_in=state,
    )
    whole = xr.open_zarr(year.out)
    joined = xr.concat([xr.open_zarr(first.out), xr.open_zarr(second.out)], dim="time")
    np.testing.assert_allclose(joined["streamflow"], whole["streamflow"], rtol=1e-5, atol=1e-6)
    assert whole["streamflow"].attrs["units"] == "mm/day"
    assert whole["streamflow_m3s"].notnull().all()  # every basin has its area
    assert whole.attrs["readings"] == "used where the store has them"
    withheld = predict(model, config.store, "2002", tmp_path / "none", withhold_readings=True)
    for basin in BASINS:
        assert not np.allclose(_flow(withheld.out, basin), _flow(exact.out, basin))


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_exported_model_predicts_what_the_toolkit_does(project, gauge_down, fmt, tmp_path):
    config, weights = project
    written, _ = export(str(config.PROJECT_DIR), fmt, tmp_path / f"camels.{fmt}")
    model, card = load_model(weights)
    reader = StoreReader(gauge_down)
    days = reader.time_slice(pd.Timestamp("2002-02-15"), pd.Timestamp("2002-04-15"))
    ends = np.arange(days.start, days.stop)  # across the three weeks without readings
    x_dynamic, x_static = physical_windows(gauge_down, card, BASINS, ends)
    assert np.isnan(x_dynamic[..., -1]).any() and not np.isnan(x_dynamic[..., :-1]).any()
    ours = run_alone(fmt, written, x_dynamic, x_static, tmp_path)
    frames = predict_period(
        model, card, reader, BASINS, Period(reader.time[ends[0]], reader.time[ends[-1]])
    )
    toolkit = np.concatenate([frames[b]["streamflow_sim"].to_numpy() for b in BASINS])
    print(f"{fmt} vs toolkit: max |diff| {abs(ours - toolkit).max():.2e} mm/day")  # with -s
    np.testing.assert_allclose(ours, toolkit, rtol=1e-4, atol=1e-4)


def test_the_served_model_answers_with_the_toolkit_s_predictions(project, tmp_path):
    config, weights = project
    tracked = start_run(config, "train")
    with closing(tracked):
        version = register(tracked, log_model(tracked, weights), "camels-us-forecast")
    model, card = load_model(weights)
    reader = StoreReader(config.store)
    table = model_input(config.store, card, BASINS[:2], Period.parse("2002-01-01,2002-06-30"))
    days = reader.time_slice(pd.Timestamp("2002-01-01"), pd.Timestamp("2002-06-30"))
    table["streamflow"] = reader.read_optional(BASINS[:2], ["streamflow"], days).reshape(-1)
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    served = served_predictions(
        f"models:/camels-us-forecast/{version}", tracked.uri, table, tmp_path
    )
    expected = predict_frame(model, card, table)
    assert served["streamflow"].notna().sum() == 2 * (181 - 89)
    both = served["streamflow"].notna()
    gap = (served["streamflow"][both] - expected["streamflow"][both]).abs().max()
    print(f"served vs toolkit: max |diff| {gap:.2e} mm/day")  # with -s
    np.testing.assert_allclose(served["streamflow"][both], expected["streamflow"][both], rtol=1e-5)
