"""A conceptual model learned regionally on a real local Ray: the parameter network trains,
its model file reloads and predicts what the result files say, stateful and exact agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from regional_lstm.artifacts import load_model
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.workflows.train import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def trained_hbv(ray_cluster, tiny_store, tmp_path_factory):
    config = tiny_config(
        tiny_store,
        tmp_path_factory.mktemp("hbv"),
        HYDROLOGICAL_MODEL="HBV",
        CONCEPTUAL_PARAMETER_SETS=4,
        LSTM_LOOKBACK=120,
        LSTM_PREDICT_LAST_N=30,
        LSTM_EPOCHS=3,
        LSTM_SAMPLES_PER_EPOCH=2048,
        EVALUATION_MODE="stateful",
    )
    return config, train(config)


def test_the_parameter_network_learns(trained_hbv):
    _, outcome = trained_hbv
    history = outcome.state["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_nse"] for h in history) > 0.5


def test_the_model_file_reloads_and_predicts_what_the_results_say(trained_hbv):
    config, outcome = trained_hbv
    weights = torch.load(outcome.model_path, weights_only=True)
    assert any(name.startswith("parameters_static.") for name in weights)
    model, card = load_model(outcome.model_path)
    assert card.model.kind == "HBV" and card.model.parameter_sets == 4
    reader = StoreReader(config.DATA_STORE)
    basin = card.trained_basins[0]
    period = config.VALIDATION_PERIOD
    again = predict_period(model, card, reader, [basin], period, mode="stateful")[basin]
    csv = pd.read_csv(
        config.PROJECT_DIR / "results" / f"{basin}_HBV_predictions.csv",
        index_col="Date",
        parse_dates=True,
    )
    area = reader.read_static([basin], ["area"])[0, 0]
    np.testing.assert_allclose(
        csv["Predicted_m3s"], again["streamflow_sim"] * area / 86.4, rtol=1e-4
    )
    exact = predict_period(model, card, reader, [basin], period, mode="exact")[basin]
    # A window spins the stores up over its lookback, a stateful pass since the stretch began:
    # the stores forget their start within the lookback, so the two agree closely.
    both = exact["streamflow_sim"].notna()
    assert np.corrcoef(exact["streamflow_sim"][both], again["streamflow_sim"][both])[0, 1] > 0.99
