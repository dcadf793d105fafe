"""Lagged streamflow (Nearing et al. 2022): past readings as inputs with a missing flag, hidden in
a fraction of the training windows, used by evaluate, predict and the pyfunc where they exist."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from regional_lstm.artifacts import load_model
from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.pool import TrainSampler
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec, read_span
from regional_lstm.errors import ConfigError, RegionalLSTMError
from regional_lstm.evaluation.predict import predict_frame
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.results import evaluate_project
from regional_lstm.workflows.predict import predict
from tests.conftest import (
    assert_one_line_error,
    model_input,
    run_cli,
    tiny_config,
    train_in_process,
)

BASINS = [f"syn{i:04d}" for i in range(1, 7)]
LAGGED = {"LSTM_LAGGED_STREAMFLOW": [1], "LSTM_EPOCHS": 6, "LSTM_SAMPLES_PER_EPOCH": 2048}


@pytest.fixture(scope="module")
def project(tiny_store, tmp_path_factory):
    """A tiny model that reads yesterday's streamflow (hidden in half its training windows)."""
    config = tiny_config(tiny_store, tmp_path_factory.mktemp("lagged") / "project", **LAGGED)
    train_in_process(config)
    return config


def _identity(names) -> Normalization:
    """A normalisation that leaves every value as stored."""
    ones, zeros = dict.fromkeys(names, 1.0), dict.fromkeys(names, 0.0)
    return Normalization(zeros, ones, {}, {}, zeros, ones)


def test_each_lag_is_the_reading_that_many_days_before_with_a_missing_flag(tiny_store):
    reader = StoreReader(tiny_store)
    spec = DataSpec(("prcp",), (), ("streamflow",), 30, lags=(1, 3))
    norm = _identity(["prcp", "streamflow"])
    times = slice(0, 400)  # from the record's first day: the lags reach before it
    x, y, _ = read_span(reader, BASINS, times, spec, norm)
    assert spec.inputs == (
        "prcp",
        "streamflow_lag1",
        "streamflow_lag1_missing",
        "streamflow_lag3",
        "streamflow_lag3_missing",
    )
    assert x.shape == (6, 400, 5) and np.isfinite(x).all()
    flow = reader.read_optional(BASINS, ["streamflow"], slice(0, 400))[..., 0]
    assert np.isnan(flow).any()  # the tiny store has gaps in its readings
    for channel, lag in ((1, 1), (3, 3)):
        before = np.full_like(flow, np.nan)
        before[:, lag:] = flow[:, :-lag]
        missing = np.isnan(before)
        np.testing.assert_array_equal(x[..., channel + 1], missing.astype(np.float32))
        np.testing.assert_array_equal(x[..., channel], np.where(missing, 0, before))
    np.testing.assert_array_equal(y[..., 0], flow)  # the targets stay as they were

    withheld = DataSpec(("prcp",), (), ("streamflow",), 30, lags=(1, 3), withhold_lags=True)
    x_none, _, _ = read_span(reader, BASINS, times, withheld, norm)
    assert (x_none[..., 2::2] == 1).all() and (x_none[..., 1::2] == 0).all()
    np.testing.assert_array_equal(x_none[..., 0], x[..., 0])


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_training_hides_the_readings_of_the_given_fraction_of_windows(
    tiny_store, tmp_path, dropout
):
    config = tiny_config(
        tiny_store,
        tmp_path,
        LSTM_LAGGED_STREAMFLOW=[1, 2],
        LSTM_LAGGED_STREAMFLOW_DROPOUT=dropout,
        LSTM_BATCH_SIZE=512,
    )
    plan = make_plan(config)
    assert plan.model.n_dynamic == 4 + 2 * 2 and plan.lag_dropout == dropout
    sampler = TrainSampler(
        StoreReader(tiny_store),
        plan.counts,
        plan.train_period,
        plan.data,
        plan.norm,
        target_std=plan.target_std,
        batch_size=512,
        seed=1,
        lag_dropout=plan.lag_dropout,
    )
    x = np.concatenate([batch["x_dynamic"].numpy() for batch in sampler.epoch(0)])
    flags = x[..., [5, 7]]
    hidden = (flags == 1).all(axis=(1, 2))  # every reading of the window marked missing
    gaps = 0.02  # windows whose readings are all missing anyway: none in the tiny store
    if dropout == 0:
        assert hidden.mean() <= gaps
    else:
        assert abs(hidden.mean() - dropout) < 0.06
    assert (x[..., [4, 6]][flags == 1] == 0).all()  # a hidden reading's value is 0


def test_the_readings_improve_the_evaluation_and_withholding_them_is_reported(project, caplog):
    period = Period.parse("1993-01-01,1993-12-31")
    with caplog.at_level(logging.INFO, logger="regional_lstm"):
        used = evaluate_project(project.PROJECT_DIR, period=period, plots=False)
    messages = [r.getMessage() for r in caplog.records if "Lagged streamflow" in r.getMessage()]
    assert messages and " of 2,190 predicted days had the reading of 1 day(s) before" in messages[0]
    filled = int(messages[0].split()[2].replace(",", ""))
    reader = StoreReader(project.store)
    days = reader.time_slice(period.start, period.end)
    before = reader.read_optional(BASINS, ["streamflow"], slice(days.start - 1, days.stop - 1))
    assert filled == int(np.isfinite(before).sum())  # 1992-12-31 .. 1993-12-30 as stored

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="regional_lstm"):
        none = evaluate_project(
            project.PROJECT_DIR, period=period, plots=False, withhold_readings=True
        )
    assert any("withheld: 2,190 days predicted without" in r.getMessage() for r in caplog.records)
    print(
        f"median NSE with readings {used.metrics['NSE'].median():.3f}, "
        f"withheld {none.metrics['NSE'].median():.3f}"
    )
    # Yesterday's reading helps most basins, even for a model this small.
    assert used.metrics["NSE"].median() > none.metrics["NSE"].median() + 0.03
    assert (used.metrics["NSE"] > none.metrics["NSE"]).sum() >= 4
    assert none.metrics["NSE"].median() > 0.3  # still a model without a gauge


@pytest.mark.parametrize("mode", ["exact", "stateful"])
def test_predict_reads_the_store_s_readings_and_a_store_without_them_is_ungauged(
    project, forcings, tmp_path, mode
):
    period = Period.parse("1993-01-01,1993-12-31")
    gauged = predict(str(project.PROJECT_DIR), project.store, "1993", tmp_path / "a", mode=mode)
    evaluation = evaluate_project(project.PROJECT_DIR, period=period, plots=False, mode=mode)
    ungauged = predict(str(project.PROJECT_DIR), forcings, "1993", tmp_path / "b", mode=mode)
    withheld = predict(
        str(project.PROJECT_DIR),
        project.store,
        "1993",
        tmp_path / "c",
        mode=mode,
        withhold_readings=True,
    )
    for basin in BASINS:
        read = [
            pd.read_csv(folder / f"{basin}_LSTM_predictions.csv", index_col="Date")
            for folder in (gauged.out, evaluation.results_dir, ungauged.out, withheld.out)
        ]
        np.testing.assert_allclose(read[0]["Predicted_m3s"], read[1]["Predicted_m3s"], rtol=2e-5)
        np.testing.assert_allclose(read[2]["Predicted_m3s"], read[3]["Predicted_m3s"], rtol=2e-5)
        assert not np.allclose(read[0]["Predicted_m3s"], read[2]["Predicted_m3s"])
    assert gauged.model["readings"] == "used where the store has them"
    assert withheld.model["readings"] == "withheld"


def test_the_pyfunc_table_takes_the_readings_as_a_streamflow_column(project):
    model, card = load_model(project.PROJECT_DIR / "models" / "LSTM" / "best_model.pt")
    period = Period.parse("1992-06-01,1993-12-31")
    table = model_input(project.store, card, BASINS[:2], period)
    observed = StoreReader(project.store).read_optional(
        BASINS[:2], ["streamflow"], StoreReader(project.store).time_slice(period.start, period.end)
    )
    with_readings = predict_frame(model, card, table.assign(streamflow=observed.reshape(-1)))
    without = predict_frame(model, card, table)  # no column: no readings
    assert with_readings["streamflow"].notna().sum() == without["streamflow"].notna().sum()
    assert not np.allclose(with_readings["streamflow"].dropna(), without["streamflow"].dropna())
    # The first day of the table has no reading before it, as for a store that starts there.
    first = predict_frame(model, card, table.assign(streamflow=np.nan))
    np.testing.assert_allclose(first["streamflow"], without["streamflow"], rtol=1e-6)


def test_readings_need_streamflow_among_the_targets_and_lags_of_a_day_or_more(tiny_store, tmp_path):
    with pytest.raises(ConfigError, match="TARGETS must include streamflow"):
        tiny_config(tiny_store, tmp_path, LSTM_LAGGED_STREAMFLOW=[1], TARGETS=["swe"])
    with pytest.raises(ConfigError, match="LSTM_LAGGED_STREAMFLOW"):
        tiny_config(tiny_store, tmp_path, LSTM_LAGGED_STREAMFLOW=[0])
    with pytest.raises(ConfigError, match="LSTM_LAGGED_STREAMFLOW_DROPOUT"):
        tiny_config(
            tiny_store, tmp_path, LSTM_LAGGED_STREAMFLOW=[1], LSTM_LAGGED_STREAMFLOW_DROPOUT=1
        )


def test_withholding_readings_from_a_model_without_them_is_one_line(tiny_store, tmp_path):
    config = tiny_config(tiny_store, tmp_path / "plain", LSTM_EPOCHS=1)
    train_in_process(config)
    with pytest.raises(RegionalLSTMError, match="no lagged streamflow inputs"):
        evaluate_project(config.PROJECT_DIR, plots=False, withhold_readings=True)
    result = run_cli(
        "predict",
        config.PROJECT_DIR,
        "--store",
        tiny_store,
        "--period",
        "1993",
        "--out",
        tmp_path / "out",
        "--withhold-readings",
    )
    assert_one_line_error(result, "no lagged streamflow inputs")
