"""`regional-lstm submit` and `job`: an experiment as a Ray Job on a real two-node cluster,
its store on a real S3-compatible server and its runs in a real `mlflow server`.

The cluster is Ray's own test cluster: a head and a second node, separate raylets on this
machine with one CPU each, the head serving the Job API on a port of its own (the session's
embedded Ray keeps running beside it). The job trains with two workers, so they must land on
both nodes. Nodes find the S3 server through the environment they start with, as cluster nodes
would (AWS_ENDPOINT_URL and credentials); nothing of the store is on a local disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.cluster_utils import Cluster

from regional_lstm.data.synth import synthesize
from regional_lstm.tracking.store import client_for
from tests.conftest import assert_one_line_error, tiny_config
from tests.servers import free_port

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_nodes(s3):
    """A head and one more node, one CPU each, started with the S3 server's environment; the
    Job API's http address."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    port = free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": port,
            # Not the default ports, which the session's own Ray holds: an agent that cannot
            # bind its port leaves the head without a job agent ("No available agent").
            "dashboard_agent_listen_port": free_port(),
        },
    )
    cluster.add_node(num_cpus=1, dashboard_agent_listen_port=free_port())
    cluster.wait_for_nodes()
    try:
        yield cluster, f"http://127.0.0.1:{port}"
    finally:
        cluster.shutdown()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, "-m", "regional_lstm", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )


def test_a_submitted_experiment_reads_s3_trains_on_both_nodes_and_logs_to_the_server(
    two_nodes, s3, tracking_server, tmp_path
):
    cluster, address = two_nodes
    uri, artifacts = tracking_server
    bucket = s3.new_bucket()
    store = synthesize(f"s3://{bucket}/tiny.zarr", basins=6, years=4, seed=1, gap_fraction=0.05)
    written = len(s3.requests(bucket))
    config = tiny_config(
        store,
        tmp_path / "project",
        RAY_NUM_WORKERS=2,
        LSTM_EPOCHS=2,
        LSTM_SAVE_MODEL=True,
        MLFLOW_TRACKING_URI=uri,
        MLFLOW_EXPERIMENT_NAME="submitted",
        MLFLOW_REGISTERED_MODEL="tiny-submitted",
    )
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")

    result = _cli("submit", str(path), "--verb", "run", "--address", address, "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Epoch 2/2") == 1  # the job's output, streamed once
    last = result.stderr.strip().splitlines()[-1]  # "job <id>: SUCCEEDED"
    assert last.startswith("job ") and last.endswith(": SUCCEEDED"), result.stderr
    job_id = last.removeprefix("job ").split(":")[0]
    status = _cli("job", "status", job_id, "--address", address)
    assert status.stdout.strip() == "SUCCEEDED", status.stderr
    assert "Epoch 1/2" in _cli("job", "logs", job_id, "--address", address).stdout

    # The store was read from the S3 server: its metadata, summary and chunks.
    read = sorted({key for method, key in s3.requests(bucket)[written:] if method == "GET"})
    assert "tiny.zarr/zarr.json" in read
    assert any(key.startswith("tiny.zarr/prcp/c/") for key in read)
    print(f"S3 keys read by the job ({len(read)}):", read)  # with -s: the evidence
    # The run, its metrics, tags and model are in the tracking server; where it ran: one
    # Train worker on each node.
    client = client_for(uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("submitted").experiment_id],
        "tags.regional_lstm.kind = 'train'",
    )
    assert run.info.status == "FINISHED"
    nodes = json.loads(run.data.tags["regional_lstm.worker_nodes"])
    assert len(set(nodes)) == 2
    assert set(nodes) == {node.node_id for node in cluster.list_all_nodes()}
    print("server run", run.info.run_id, "worker nodes", nodes)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
    assert run.data.params["DATA_STORE"] == f"s3://{bucket}/tiny.zarr"
    assert run.data.params["data.store"] == store.url
    assert run.data.params["data.store_metadata_sha256"] != "none"  # read from S3
    assert client.get_registered_model("tiny-submitted").latest_versions
    # Artifacts in the server's store, none beside the project on the node's disk.
    stored = {path.name for path in artifacts.rglob("*") if path.is_file()}
    assert {"best_model.pt", "metrics.csv"} <= stored
    assert any(name.endswith("_LSTM_hydrograph.png") for name in stored)
    assert not (config.PROJECT_DIR / "mlartifacts").exists()
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")


def test_an_unreachable_job_api_is_one_line(tmp_path, tiny_store):
    config = tiny_config(tiny_store, tmp_path / "project")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    result = _cli("submit", str(path), "--address", f"http://127.0.0.1:{free_port()}")
    assert_one_line_error(result, "no Ray Job API here")


def test_a_local_run_beside_a_running_cluster_starts_its_own_ray(two_nodes, tiny_store, tmp_path):
    cluster, _ = two_nodes  # running on this machine: a plain ray.init() would join it
    config = tiny_config(tiny_store, tmp_path / "project", LSTM_EPOCHS=1)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    result = _cli("train", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    uri = f"sqlite:///{config.PROJECT_DIR / 'mlflow.db'}"
    (run,) = client_for(uri).search_runs(
        [client_for(uri).get_experiment_by_name("tiny").experiment_id]
    )
    nodes = set(json.loads(run.data.tags["regional_lstm.worker_nodes"]))
    assert not nodes & {node.node_id for node in cluster.list_all_nodes()}
