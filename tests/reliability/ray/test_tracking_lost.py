"""A real `mlflow server` that goes away in the middle of a training run."""

from __future__ import annotations

import logging
import os
import signal

import pandas as pd
import pytest

from regional_lstm.artifacts import load_model
from regional_lstm.errors import TrackingError
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.workflows.train import train
from tests.conftest import log_lines, tiny_config
from tests.proc import descendants
from tests.servers import mlflow_server_process

pytestmark = pytest.mark.ray


class _KillAfterFirstEpoch(logging.Handler):
    """SIGKILLs the server (and its web workers) once the driver logs epoch 1."""

    def __init__(self, server) -> None:
        super().__init__(logging.INFO)
        self.server, self.done = server, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.done and record.getMessage().startswith("Epoch 1/"):
            for pid in [*descendants(self.server.pid), self.server.pid]:
                os.kill(pid, signal.SIGKILL)
            self.done = True


def test_a_server_lost_mid_run_leaves_the_local_outputs_complete_and_says_what_was_not_logged(
    ray_cluster, tiny_store, tmp_path, monkeypatch
):
    # One retry, not the toolkit's three: the same failure, in less of the suite's time.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    (tmp_path / "server").mkdir()
    with mlflow_server_process(tmp_path / "server") as (uri, _, server):
        config = tiny_config(
            tiny_store, tmp_path / "project", MLFLOW_TRACKING_URI=uri, LSTM_EPOCHS=3
        )
        killer = _KillAfterFirstEpoch(server)
        logging.getLogger("regional_lstm").addHandler(killer)
        try:
            with log_lines() as lines, pytest.raises(TrackingError) as caught:
                train(config)
        finally:
            logging.getLogger("regional_lstm").removeHandler(killer)
    assert killer.done
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("MLflow: the results and the model of run ")
    assert f"were not logged to {uri} (" in message
    assert str(config.PROJECT_DIR) in message
    # Epoch metrics stop being sent after the first that fails, with one warning.
    lost = [line for line in lines if "metrics were not logged" in line]
    assert len(lost) <= 1, lines
    # Training finished and evaluated: every local output is there and whole.
    assert any(line.startswith("Epoch 3/3") for line in lines), lines
    results = config.PROJECT_DIR / "results"
    metrics = pd.read_csv(results / "metrics.csv", index_col=0)
    assert len(metrics) == 6 and metrics["NSE"].notna().all()
    assert len(list(results.glob("*_LSTM_predictions.csv"))) == 6
    _, card = load_model(config.PROJECT_DIR / BEST_MODEL)
    assert card.trained_basins == list(metrics.index.astype(str))
