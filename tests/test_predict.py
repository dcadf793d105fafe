"""`predict`: a period from forcings alone, as evaluate predicts it, with the LSTM state carried
from one run to the next; outputs as CSV folders, Zarr and NetCDF; bad inputs in one line."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from regional_lstm.config_periods import Period
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.carry import load_state
from regional_lstm.pipeline.results import evaluate_project
from regional_lstm.workflows.predict import predict
from tests.conftest import (
    assert_one_line_error,
    edited_store,
    run_cli,
    tiny_config,
    train_in_process,
)

BASINS = [f"syn{i:04d}" for i in range(1, 7)]
GAP = slice("1993-06-25", "1993-07-03")  # prcp missing for syn0002, across the runs' boundary


@pytest.fixture(scope="module")
def project(tiny_store, tmp_path_factory):
    config = tiny_config(tiny_store, tmp_path_factory.mktemp("predict") / "project", LSTM_EPOCHS=2)
    train_in_process(config)
    return config.PROJECT_DIR


@pytest.fixture(scope="module")
def gappy(tiny_store, tmp_path_factory):
    """The tiny store with a week of prcp missing for syn0002 around 1993-06-30."""

    def gap(ds):
        ds["prcp"].loc[{"basin": "syn0002", "time": GAP}] = np.nan
        return ds

    return edited_store(tiny_store, tmp_path_factory.mktemp("gappy") / "gappy.zarr", gap)


def _csv(folder, basin):
    return pd.read_csv(folder / f"{basin}_LSTM_predictions.csv", index_col="Date")


@pytest.mark.parametrize("mode", ["exact", "stateful"])
def test_predictions_from_forcings_alone_equal_what_evaluate_writes(
    project, forcings, tmp_path, mode
):
    out = predict(str(project), forcings, "1993", tmp_path / "csv", mode=mode)
    assert out.basins == BASINS and len(out.dates) == 365
    period = Period.parse("1993-01-01,1993-12-31")
    evaluation = evaluate_project(project, period=period, plots=False, mode=mode)
    for basin in BASINS:
        ours = _csv(out.out, basin)
        theirs = _csv(evaluation.results_dir, basin)
        assert list(ours.columns) == ["Predicted_m3s"]
        assert ours.index.equals(theirs.index)
        np.testing.assert_allclose(ours["Predicted_m3s"], theirs["Predicted_m3s"], rtol=2e-5)


def test_a_dataset_holds_units_discharge_and_the_models_identity(project, forcings, tmp_path):
    csv = predict(str(project), forcings, "1993", tmp_path / "csv").out
    for name in ("out.zarr", "out.nc"):
        outcome = predict(str(project / "models" / "LSTM" / "best_model.pt"), forcings,
                          "1993", tmp_path / name)  # fmt: skip
        ds = xr.open_dataset(outcome.out, engine="zarr" if name.endswith("zarr") else None)
        assert ds["streamflow"].dims == ("basin", "time")
        assert ds["streamflow"].attrs["units"] == "mm/day"
        assert ds["streamflow_m3s"].attrs["units"] == "m3/s"
        assert ds.attrs["prediction_mode"] == "exact"
        assert len(ds.attrs["model_weights_sha256"]) == 64
        np.testing.assert_allclose(
            ds["streamflow_m3s"].sel(basin="syn0003").values,
            _csv(csv, "syn0003")["Predicted_m3s"].to_numpy(),
            rtol=1e-5,
        )
        ds.close()


def test_tomorrows_run_continues_the_saved_state_as_one_run_would(project, gappy, tmp_path):
    predict(str(project), gappy, "1993-01-01,1993-12-31", tmp_path / "whole.zarr",
            mode="stateful")  # fmt: skip
    first = predict(str(project), gappy, "1993-01-01,1993-06-30", tmp_path / "first.zarr",
                    mode="stateful", state_out=tmp_path / "state.safetensors")  # fmt: skip
    state = load_state(first.state_out)
    assert state.last_date == pd.Timestamp("1993-06-30") and state.basins == BASINS
    assert state.age[BASINS.index("syn0002")] == 0  # its inputs ended in the gap
    day = tmp_path / "state.safetensors"
    for month in ("07", "08"):  # then a run per month, each continuing the last
        end = "1993-07-31" if month == "07" else "1993-08-31"
        predict(str(project), gappy, f"1993-{month}-01,{end}", tmp_path / f"{month}.zarr",
                mode="stateful", state_in=day, state_out=day)  # fmt: skip
    joined = xr.open_zarr(tmp_path / "whole.zarr")["streamflow"]
    for month, days in (("07", slice("1993-07-01", "1993-07-31")),
                        ("08", slice("1993-08-01", "1993-08-31"))):  # fmt: skip
        continued = xr.open_zarr(tmp_path / f"{month}.zarr")["streamflow"]
        expected = joined.sel(time=days)
        np.testing.assert_allclose(continued.values, expected.values, rtol=1e-5, atol=1e-6)
        assert np.isnan(continued.values).sum() == np.isnan(expected.values).sum()
    # syn0002 spins up again after its gap: no prediction until lookback days of inputs.
    after_gap = joined.sel(basin="syn0002", time=slice("1993-07-04", "1993-09-01"))
    assert np.isnan(after_gap.values[:59]).all() and not np.isnan(after_gap.values[59:]).any()


def test_an_ensemble_writes_its_band(project, forcings, tmp_path):
    from regional_lstm.artifacts import save_ensemble

    second = tmp_path / "member2" / "best_model.pt"
    second.parent.mkdir()
    shutil.copy(project / "models" / "LSTM" / "best_model.pt", second)
    shutil.copy(project / "models" / "LSTM" / "best_model.json", second.with_suffix(".json"))
    weights = torch.load(second, weights_only=True)
    torch.save({k: v * 1.01 for k, v in weights.items()}, second)
    folder = tmp_path / "ensemble"
    first = project / "models" / "LSTM" / "best_model.pt"
    save_ensemble(folder, [first, second], {"seeds": [0, 1]})
    outcome = predict(str(folder), forcings, "1993", tmp_path / "band.zarr")
    ds = xr.open_zarr(outcome.out)
    assert {"streamflow_p05", "streamflow_p95", "streamflow_m3s_p95"} <= set(ds.data_vars)
    assert bool((ds["streamflow_p05"] <= ds["streamflow_p95"] + 1e-6).all())
    csv = predict(str(folder), forcings, "1993", tmp_path / "band_csv").out
    assert list(_csv(csv, "syn0001").columns) == [
        "Predicted_m3s",
        "Predicted_p05_m3s",
        "Predicted_p95_m3s",
    ]


def test_bad_inputs_are_refused_in_one_line(project, forcings, tiny_store, tmp_path):
    def refused(match, **options):
        with pytest.raises(RegionalLSTMError, match=match):
            predict(str(project), options.pop("store", forcings), options.pop("period", "1993"),
                    tmp_path / "out.zarr", **options)  # fmt: skip

    refused("use --mode stateful", state_out=tmp_path / "s.safetensors")
    refused("the store begins on 1990-01-01", period="1990-01-01,1990-12-31")
    refused("outside the store's record", period="1993-06-01,1995-01-01")
    refused("no basin 'nope'", basins=["nope"])
    state = tmp_path / "june.safetensors"
    predict(str(project), forcings, "1993-06-01,1993-06-30", tmp_path / "june.zarr",
            mode="stateful", state_out=state, basins=BASINS[:2])  # fmt: skip
    refused("the state ends on 1993-06-30", mode="stateful", state_in=state,
            period="1993-08-01,1993-08-31")  # fmt: skip
    refused("the state holds no basin 'syn0003'", mode="stateful", state_in=state,
            period="1993-07-01,1993-07-31")  # fmt: skip
    other = tiny_config(tiny_store, tmp_path / "other", LSTM_EPOCHS=1, SEED=9)
    other_model = train_in_process(other)
    with pytest.raises(RegionalLSTMError, match="saved by another model"):
        predict(str(other_model), forcings, "1993-07-01,1993-07-31", tmp_path / "o.zarr",
                mode="stateful", state_in=state, basins=BASINS[:2])  # fmt: skip
    pickled = tmp_path / "pickled.safetensors"
    torch.save({"h": torch.zeros(1)}, pickled)
    refused("not a state file", mode="stateful", state_in=pickled, period="1993-07-01,1993-07-31")
    edited_store(forcings, tmp_path / "no_tmax.zarr", lambda ds: ds.drop_vars("tmax"))
    refused("no dynamic input 'tmax'", store=tmp_path / "no_tmax.zarr")


def test_the_command_line_gives_one_line_errors(project, forcings, tmp_path):
    result = run_cli(
        "predict", project, "--store", forcings, "--period", "1990", "--out", tmp_path / "x"
    )
    assert_one_line_error(result, "the store begins on 1990-01-01")
    result = run_cli(
        "predict", project, "--store", forcings, "--period", "1993", "--out", tmp_path / "csv"
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "csv" / "syn0001_LSTM_predictions.csv").is_file()
