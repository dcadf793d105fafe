"""`regional-lstm submit` and `job`: an experiment as a Ray Job on a real two-node cluster.

The cluster is Ray's own test cluster: a head and a second node, separate raylets on this
machine with one CPU each, the head serving the Job API on a port of its own (the session's
embedded Ray keeps running beside it). The job trains with two workers, so they must land on
both nodes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.cluster_utils import Cluster

from regional_lstm.tracking.store import client_for
from tests.conftest import assert_one_line_error, tiny_config

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_nodes():
    """A head and one more node, one CPU each; the Job API's http address."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    port = _free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": port,
            # Not the default ports, which the session's own Ray holds: an agent that cannot
            # bind its port leaves the head without a job agent ("No available agent").
            "dashboard_agent_listen_port": _free_port(),
        },
    )
    cluster.add_node(num_cpus=1, dashboard_agent_listen_port=_free_port())
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


def test_a_submitted_experiment_trains_on_both_nodes(two_nodes, tiny_store, tmp_path):
    cluster, address = two_nodes
    config = tiny_config(tiny_store, tmp_path / "project", RAY_NUM_WORKERS=2, LSTM_EPOCHS=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")

    result = _cli("submit", str(path), "--verb", "train", "--address", address, "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Epoch 2/2" in result.stdout  # the job's output, streamed
    last = result.stderr.strip().splitlines()[-1]  # "job <id>: SUCCEEDED"
    assert last.startswith("job ") and last.endswith(": SUCCEEDED"), result.stderr
    job_id = last.removeprefix("job ").split(":")[0]

    status = _cli("job", "status", job_id, "--address", address)
    assert status.stdout.strip() == "SUCCEEDED", status.stderr
    assert "Epoch 1/2" in _cli("job", "logs", job_id, "--address", address).stdout
    # Where it ran: one Train worker on each node, as the run's tag records.
    uri = f"sqlite:///{config.PROJECT_DIR / 'mlflow.db'}"
    (run,) = client_for(uri).search_runs(
        [client_for(uri).get_experiment_by_name("tiny").experiment_id]
    )
    nodes = json.loads(run.data.tags["regional_lstm.worker_nodes"])
    assert len(set(nodes)) == 2
    assert set(nodes) == {node.node_id for node in cluster.list_all_nodes()}
    assert (config.PROJECT_DIR / "results" / "metrics.csv").is_file()


def test_an_unreachable_job_api_is_one_line(tmp_path, tiny_store):
    config = tiny_config(tiny_store, tmp_path / "project")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    result = _cli("submit", str(path), "--address", f"http://127.0.0.1:{_free_port()}")
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
