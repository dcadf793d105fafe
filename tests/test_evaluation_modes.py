"""Stateful evaluation: one pass per gap-free stretch agrees with one window per day."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from regional_lstm.artifacts import load_model
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import BasinBlock
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.metrics import nse
from regional_lstm.evaluation.outputs import dated_csv
from regional_lstm.evaluation.predict import (
    predict_block,
    predict_block_stateful,
    predict_members,
    predict_period,
)
from regional_lstm.models import ModelSpec, build_model
from regional_lstm.pipeline.results import evaluate_project
from tests.conftest import tiny_config, train_in_process

LOOKBACK = 30


@pytest.fixture(scope="module")
def trained(tiny_store, tmp_path_factory):
    """A small model trained in-process (no Ray) on the tiny store, lookback 30 days."""
    config = tiny_config(tiny_store, tmp_path_factory.mktemp("modes"), LSTM_LOOKBACK=LOOKBACK)
    return config, train_in_process(config)


@pytest.fixture(scope="module")
def both(trained):
    config, path = trained
    model, card = load_model(path)
    reader = StoreReader(config.DATA_STORE)
    period = config.VALIDATION_PERIOD
    basins = card.trained_basins
    exact = predict_period(model, card, reader, basins, period, mode="exact")
    stateful = predict_period(model, card, reader, basins, period, mode="stateful")
    return exact, stateful


def test_first_day_after_spin_up_is_identical(both):
    exact, stateful = both
    for basin in exact:
        first = exact[basin]["streamflow_sim"].first_valid_index()
        assert stateful[basin].loc[first, "streamflow_sim"] == pytest.approx(
            exact[basin].loc[first, "streamflow_sim"], rel=1e-5, abs=1e-6
        )


def test_both_modes_predict_the_same_days(both):
    exact, stateful = both
    for basin in exact:
        pd.testing.assert_series_equal(
            exact[basin]["streamflow_sim"].isna(), stateful[basin]["streamflow_sim"].isna()
        )


def test_stateful_scores_match_exact_ones(both):
    exact, stateful = both
    differences = [
        nse(frame["streamflow_obs"], frame["streamflow_sim"])
        - nse(frame["streamflow_obs"], stateful[basin]["streamflow_sim"])
        for basin, frame in exact.items()
    ]
    assert np.median(np.abs(differences)) < 0.02


def test_both_mode_adds_the_nse_difference_to_the_metrics(trained):
    config, _ = trained
    evaluation = evaluate_project(config.PROJECT_DIR, plots=False, mode="both")
    table = pd.read_csv(evaluation.results_dir / "metrics.csv", index_col="basin")
    np.testing.assert_allclose(
        table["NSE_exact_minus_stateful"],
        table["NSE"] - table["NSE_stateful"],
        atol=1e-5,  # CSV keeps 6 digits
    )


def test_unknown_mode_is_named(trained):
    config, _ = trained
    with pytest.raises(RegionalLSTMError, match="unknown evaluation mode 'fast'"):
        evaluate_project(config.PROJECT_DIR, plots=False, mode="fast")


def small_model(**overrides) -> torch.nn.Module:
    values = {
        "n_dynamic": 2,
        "n_static": 1,
        "hidden_size": 8,
        "num_layers": 1,
        "dropout": 0.0,
        "use_attention": False,
    }
    return build_model(ModelSpec(**(values | overrides))).eval()


def block_with_a_gap() -> BasinBlock:
    """Two basins x 120 days; the first has missing inputs on days 50-54."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 120, 2)).astype(np.float32)
    x[0, 50:55, 1] = np.nan
    return BasinBlock(
        basins=["a", "b"],
        time=pd.date_range("2000-01-01", periods=120),
        x=x,
        static=rng.normal(size=(2, 1)).astype(np.float32),
        y=np.full((2, 120, 1), np.nan, np.float32),
        period_start=LOOKBACK - 1,
    )


def test_a_gap_in_the_inputs_starts_a_new_spin_up():
    model, block = small_model(), block_with_a_gap()
    ends = block.window_ends(LOOKBACK, need_target=False)
    exact = predict_block(model, block, ends, LOOKBACK, 64, torch.device("cpu"))
    stateful = predict_block_stateful(model, block, ends, LOOKBACK, 64, torch.device("cpu"))
    assert 55 + LOOKBACK - 1 in ends[0] and not set(range(50, 55 + LOOKBACK - 1)) & set(ends[0])
    restart = list(ends[0]).index(55 + LOOKBACK - 1)
    np.testing.assert_allclose(stateful[0][restart], exact[0][restart], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stateful[0][0], exact[0][0], rtol=1e-5, atol=1e-6)
    assert all(np.isfinite(s).all() for s in stateful)


def test_attention_models_are_evaluated_exactly_only(trained):
    config, path = trained
    _, card = load_model(path)
    model = small_model(use_attention=True)
    card = replace(card, model=model.spec)
    with pytest.raises(RegionalLSTMError, match="without temporal attention"):
        predict_period(
            model,
            card,
            StoreReader(config.DATA_STORE),
            card.trained_basins[:1],
            config.VALIDATION_PERIOD,
            mode="stateful",
        )


def test_prediction_csv_text_is_what_pandas_writes():
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "Q_obs": rng.random(400) * 100,
            "Q_pred": rng.random(400) * 1e-7,
            "SWE_obs": rng.random(400).astype(np.float32),
            "SWE_pred": -rng.random(400) * 1e6,
        },
        index=pd.date_range("1999-12-01", periods=400, name="Date"),
    )
    table.iloc[::7, 0] = np.nan
    table.iloc[3, 2] = np.nan
    expected = table.to_csv(index_label="Date", date_format="%Y-%m-%d", float_format="%.6g")
    assert dated_csv(table) == expected


def test_members_sharing_inputs_are_fed_one_read_of_each_block(trained):
    config, path = trained
    model, card = load_model(path)
    other, _ = load_model(path)
    with torch.no_grad():
        other.head.bias.add_(0.5)  # a second member that predicts differently
    reader = StoreReader(config.DATA_STORE)
    reads = []
    read_dynamic = reader.read_dynamic
    reader.read_dynamic = lambda *args: reads.append(args) or read_dynamic(*args)
    period, basins = config.VALIDATION_PERIOD, card.trained_basins
    together = predict_members([(model, card), (other, card)], reader, basins, period)
    assert len(reads) == 2  # the block's inputs and targets, then its observations: once
    for member, predicted in zip((model, other), together, strict=True):
        alone = predict_period(member, card, StoreReader(config.DATA_STORE), basins, period)
        for basin in basins:
            pd.testing.assert_frame_equal(predicted[basin], alone[basin])
    assert not together[0][basins[0]].equals(together[1][basins[0]])
