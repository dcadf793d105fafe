"""MC-dropout: stochastic passes of one model with dropout left on, scored like an ensemble."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from regional_lstm.artifacts import load_model
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.predict import predict_mc_dropout
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.pipeline.results import evaluate_project
from tests.conftest import run_cli, tiny_config, train_in_process

BASIN = "syn0001"


@pytest.fixture(scope="module")
def project(tiny_store, tmp_path_factory) -> Path:
    """A tiny model trained in process with dropout 0.3."""
    config = tiny_config(
        tiny_store, tmp_path_factory.mktemp("mc_dropout"), LSTM_DROPOUT=0.3, LSTM_EPOCHS=2
    )
    train_in_process(config)
    return config.PROJECT_DIR


@pytest.fixture(scope="module")
def evaluation(project):
    return evaluate_project(project, mc_dropout=8, plots=False)


def mc_passes(
    weights: Path, passes: int, seed: int = 0
) -> tuple[list[dict[str, pd.DataFrame]], torch.nn.Module]:
    """``passes`` MC-dropout predictions of BASIN over the model's evaluation period."""
    model, card = load_model(weights)
    reader = StoreReader(card.config["DATA_STORE"])
    period = Period.parse(card.config["VALIDATION_PERIOD"])
    return predict_mc_dropout(model, card, reader, [BASIN], period, passes, seed=seed), model


def test_prediction_csvs_carry_a_5_to_95_percent_band(evaluation):
    csv = pd.read_csv(evaluation.results_dir / f"{BASIN}_LSTM_predictions.csv")
    rows = csv.dropna(subset=["Predicted_m3s"])
    assert len(rows) > 300
    assert (rows["Predicted_p05_m3s"] <= rows["Predicted_p95_m3s"]).all()
    assert (rows["Predicted_p05_m3s"] < rows["Predicted_p95_m3s"]).any()


def test_metrics_report_coverage_and_crps_for_every_basin(evaluation):
    table = pd.read_csv(evaluation.results_dir / "metrics.csv", index_col="basin")
    assert len(table) == 6
    assert table["coverage_90"].between(0, 1).all()
    assert (table["CRPS"] > 0).all()
    assert "coverage_90_median" in evaluation.summary


def test_same_seed_gives_the_same_passes(project):
    first, _ = mc_passes(project / BEST_MODEL, 3, seed=5)
    again, _ = mc_passes(project / BEST_MODEL, 3, seed=5)
    for one, other in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(one[BASIN], other[BASIN])


def test_passes_within_one_call_differ(project):
    (first, second), _ = mc_passes(project / BEST_MODEL, 2, seed=5)
    simulated = first[BASIN]["streamflow_sim"].dropna()
    assert not simulated.equals(second[BASIN]["streamflow_sim"].dropna())


def test_model_is_back_in_eval_mode_afterwards(project):
    _, model = mc_passes(project / BEST_MODEL, 2)
    assert not any(module.training for module in model.modules())


def test_model_trained_without_dropout_is_refused(tiny_store, tmp_path):
    config = tiny_config(
        tiny_store, tmp_path, LSTM_DROPOUT=0.0, LSTM_EPOCHS=1, LSTM_SAMPLES_PER_EPOCH=64
    )
    weights = train_in_process(config)
    with pytest.raises(RegionalLSTMError, match="LSTM_DROPOUT"):
        mc_passes(weights, 2)


def test_cli_evaluate_with_mc_dropout_writes_the_band(project, tmp_path):
    copy = Path(shutil.copytree(project, tmp_path / "project"))
    result = run_cli("evaluate", copy, "--mc-dropout", "4", "--no-plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    csv = pd.read_csv(copy / "results" / f"{BASIN}_LSTM_predictions.csv")
    assert "Predicted_p95_m3s" in csv.columns
