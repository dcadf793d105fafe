"""Training on a real local Ray: 1 and 2 workers, saved model, result files, resume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from regional_lstm.artifacts import load_model
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.workflows.train import train
from tests.conftest import log_lines, tiny_config

pytestmark = pytest.mark.ray


def test_loss_falls_and_validation_nse_improves(trained):
    _, outcome, lines = trained
    history = outcome.state["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_nse"] for h in history) > history[0]["val_nse"]
    assert [line.split(":")[0] for line in lines if line.startswith("Epoch")] == [
        f"Epoch {i}/4" for i in range(1, 5)
    ]


def test_saved_model_is_weights_plus_a_json_sidecar(trained):
    config, outcome, _ = trained
    weights = torch.load(outcome.model_path, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())
    _, card = load_model(outcome.model_path)
    assert card.data.dynamic == tuple(config.DYNAMIC_INPUTS)
    assert set(card.normalization.dynamic_mean) == set(config.DYNAMIC_INPUTS)
    assert card.config["DOMAIN_NAME"] == "tiny"


def test_reloaded_best_model_predicts_what_the_results_say(trained):
    config, outcome, _ = trained
    model, card = load_model(outcome.model_path)
    reader = StoreReader(config.DATA_STORE)
    basin = card.trained_basins[0]
    again = predict_period(model, card, reader, [basin], config.VALIDATION_PERIOD)[basin]
    csv = pd.read_csv(
        config.PROJECT_DIR / "results" / f"{basin}_LSTM_predictions.csv",
        index_col="Date",
        parse_dates=True,
    )
    area = reader.read_static([basin], ["area"])[0, 0]
    np.testing.assert_allclose(
        csv["Predicted_m3s"], again["streamflow_sim"] * area / 86.4, rtol=1e-5
    )
    once_more = predict_period(model, card, reader, [basin], config.VALIDATION_PERIOD)[basin]
    assert again.equals(once_more)


def test_prediction_csv_dates_and_observations_equal_the_store(trained):
    config, _, _ = trained
    reader = StoreReader(config.DATA_STORE)
    period = config.VALIDATION_PERIOD
    for basin in reader.basins:
        csv = pd.read_csv(
            config.PROJECT_DIR / "results" / f"{basin}_LSTM_predictions.csv",
            index_col="Date",
            parse_dates=True,
        )
        assert list(csv.columns) == ["Observed_m3s", "Predicted_m3s", "Residual"]
        assert csv.index.equals(pd.date_range(period.start, period.end, name="Date"))
        stored = reader.read_dynamic(
            [basin], ["streamflow"], reader.time_slice(period.start, period.end)
        )
        area = reader.read_static([basin], ["area"])[0, 0]
        expected = stored[0, :, 0].astype(np.float64) * area / 86.4
        np.testing.assert_allclose(csv["Observed_m3s"], expected, rtol=1e-5)
        assert csv["Observed_m3s"].isna().equals(pd.Series(np.isnan(expected), index=csv.index))


def test_metrics_table_has_a_row_per_basin_and_the_summary_columns(trained):
    config, outcome, _ = trained
    table = pd.read_csv(config.PROJECT_DIR / "results" / "metrics.csv", index_col="basin")
    assert len(table) == 6
    for column in (
        "NSE",
        "KGE",
        "RMSE",
        "MAE",
        "Bias",
        "KGE_r",
        "KGE_alpha",
        "KGE_beta",
        "FHV",
        "FLV",
        "PeakTiming",
    ):
        assert column in table.columns
    assert outcome.evaluation.summary["n_basins"] == 6
    assert (config.PROJECT_DIR / "results" / "nse_cdf.png").is_file()
    assert len(list((config.PROJECT_DIR / "results").glob("*_LSTM_hydrograph.png"))) == 6


def test_relaunch_resumes_from_the_last_checkpoint(ray_cluster, tiny_store, tmp_path):
    first = train(tiny_config(tiny_store, tmp_path, LSTM_EPOCHS=2))
    assert len(first.state["history"]) == 2
    with log_lines() as lines:
        second = train(tiny_config(tiny_store, tmp_path, LSTM_EPOCHS=3))
    assert any(line.startswith("Resuming from epoch 2") for line in lines)
    assert [h["epoch"] for h in second.state["history"]] == [1, 2, 3]
    assert second.state["history"][:2] == first.state["history"]


def test_relaunch_with_another_config_in_the_same_project_is_refused(trained):
    from regional_lstm.errors import ConfigError

    config, _, _ = trained
    with pytest.raises(ConfigError, match="changed: LSTM_HIDDEN_SIZE"):
        train(config.with_overrides(LSTM_HIDDEN_SIZE=8))


@pytest.mark.parametrize("trained", ["1-worker-concat"], indirect=True)  # a command: once
def test_evaluate_command_rewrites_results_for_another_period(trained):
    import subprocess
    import sys

    config, _, _ = trained
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "regional_lstm",
            "evaluate",
            str(config.PROJECT_DIR),
            "--period",
            "1992-06-01,1992-12-31",
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Evaluation 1992-06-01..1992-12-31: 6 basins" in result.stdout
    csv = pd.read_csv(config.PROJECT_DIR / "results" / "syn0001_LSTM_predictions.csv")
    assert csv["Date"].iloc[0] == "1992-06-01" and csv["Date"].iloc[-1] == "1992-12-31"
