"""A real `mlflow server` (sqlite backend, artifact folder) on 127.0.0.1 as the tracking URI:
runs, metrics, tags and the registered model go to it, and the artifacts to its store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from regional_lstm.tracking.store import client_for
from regional_lstm.workflows.train import train
from tests.conftest import tiny_config

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`mlflow server` in its own process; its URI and artifact folder."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    artifacts = folder / "artifacts"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination",
        str(artifacts),
        "--workers",
        "1",
    ]
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "server.log").read_text()) from None
                time.sleep(0.3)
        yield uri, artifacts
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_run_logs_to_the_server_and_its_artifacts_to_the_servers_store(
    ray_cluster, server, tiny_store, tmp_path
):
    uri, artifacts = server
    config = tiny_config(
        tiny_store,
        tmp_path / "project",
        LSTM_EPOCHS=2,
        LSTM_SAVE_MODEL=True,
        MLFLOW_TRACKING_URI=uri,
        MLFLOW_REGISTERED_MODEL="tiny-served",
    )
    result = train(config)
    assert result.run.uri == uri
    client = client_for(uri)
    run = client.get_run(result.run.run_id)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
    assert len(json.loads(run.data.tags["regional_lstm.worker_nodes"])) == 1
    assert run.data.params["LSTM_HIDDEN_SIZE"] == "16"
    assert client.get_registered_model("tiny-served").latest_versions
    # Artifacts in the server's store, none on this node's disk.
    stored = {path.name for path in artifacts.rglob("*") if path.is_file()}
    assert {"best_model.pt", "metrics.csv"} <= stored
    assert any(name.endswith("_LSTM_hydrograph.png") for name in stored)
    assert not (config.PROJECT_DIR / "mlartifacts").exists()
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
