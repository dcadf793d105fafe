"""A real multi-node Ray cluster on this machine: `regional-lstm submit` and `job`, a store on a
real S3-compatible server, runs in a real `mlflow server`, a local run beside the cluster, and a
sweep that loses a node and then its driver.

The cluster is Ray's own test cluster: a head without CPUs (it runs the jobs' drivers and serves
the Job API on a port of its own, as a production head often does) and two worker nodes,
separate raylets with one CPU each; the session's embedded Ray keeps running beside it. A job
training with two workers must land on both nodes. Nodes find the S3 server through the
environment they start with, as cluster nodes would (AWS_ENDPOINT_URL and credentials).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from ray.cluster_utils import Cluster

from regional_lstm.allocator import ENVIRONMENT
from regional_lstm.data.synth import synthesize
from regional_lstm.distributed.train import WORKER_NODES_TAG
from regional_lstm.tracking.store import client_for
from tests.conftest import tiny_config
from tests.proc import command_line, descendants
from tests.servers import free_port

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def two_nodes(s3):
    """A head with no CPU and two nodes with one each, started with the S3 server's
    environment; the Job API's http address."""
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    port = free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": port,
            # Not the default ports, which the session's own Ray holds: an agent that cannot
            # bind its port leaves the head without a job agent ("No available agent").
            "dashboard_agent_listen_port": free_port(),
            # A lost node is declared dead after ~8 s of missed health checks (default ~30 s).
            # No Prometheus metrics and no idle workers started for each driver: each costs
            # every process a share of the 2 cores the tests beside this cluster need.
            "_system_config": {
                "health_check_period_ms": 1000,
                "health_check_failure_threshold": 8,
                "enable_metrics_collection": False,
                "prestart_worker_first_driver": False,
            },
        },
    )
    for _ in range(2):
        _add_node(cluster)
    cluster.wait_for_nodes()
    try:
        yield cluster, f"http://127.0.0.1:{port}"
    finally:
        cluster.shutdown()


def _add_node(cluster: Cluster):
    return cluster.add_node(num_cpus=1, dashboard_agent_listen_port=free_port())


def _worker_nodes(cluster: Cluster) -> set[str]:
    return {node.node_id for node in cluster.worker_nodes}


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


# The experiment `submit` sends, and the undisturbed twin of the run that loses a worker below:
# 4 epochs of a second or two, over the Train controller's poll of the workers' reports
# (`cluster.TRAIN_POLL`): the checkpoint of an epoch a worker logged but the controller had not
# collected yet dies with the worker (with Ray's 2 s poll and 1.5 s epochs, up to two epochs
# were repeated).
TWIN = {"LSTM_EPOCHS": 4, "LSTM_SAMPLES_PER_EPOCH": 16384, "RAY_NUM_WORKERS": 2}


@pytest.fixture(scope="module")
def submitted(two_nodes, s3, tracking_server, tmp_path_factory):
    """`regional-lstm submit ... --wait` of a run on a store on S3 (the same data as
    tiny_store), logged to the tracking server: its config, the CLI's result, the bucket, how
    many requests the store's upload made, and the store."""
    _, address = two_nodes
    uri, _ = tracking_server
    root = tmp_path_factory.mktemp("submitted")
    bucket = s3.new_bucket()
    store = synthesize(f"s3://{bucket}/tiny.zarr", basins=6, years=4, seed=1, gap_fraction=0.05)
    written = len(s3.requests(bucket))
    config = tiny_config(
        store,
        root / "project",
        LSTM_SAVE_MODEL=True,
        MLFLOW_TRACKING_URI=uri,
        MLFLOW_EXPERIMENT_NAME="submitted",
        MLFLOW_REGISTERED_MODEL="tiny-submitted",
        **TWIN,
    )
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    result = _cli("submit", str(path), "--verb", "run", "--address", address, "--wait")
    return config, result, bucket, written, store


def test_a_submitted_experiment_reads_s3_trains_on_both_nodes_and_logs_to_the_server(
    two_nodes, submitted, s3, tracking_server
):
    cluster, address = two_nodes
    uri, artifacts = tracking_server
    config, result, bucket, written, store = submitted
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Epoch 4/4") == 1  # the job's output, streamed once
    last = result.stderr.strip().splitlines()[-1]  # "job <id>: SUCCEEDED"
    assert last.startswith("job ") and last.endswith(": SUCCEEDED"), result.stderr
    job_id = last.removeprefix("job ").split(":")[0]
    status = _cli("job", "status", job_id, "--address", address)
    assert status.stdout.strip() == "SUCCEEDED", status.stderr
    assert "Epoch 1/4" in _cli("job", "logs", job_id, "--address", address).stdout

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
    assert set(nodes) == _worker_nodes(cluster)
    print("server run", run.info.run_id, "worker nodes", nodes)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert steps == [1, 2, 3, 4]
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


# What a lean embedded session leaves out: Ray Train's placement-group cleaner, dataset manager
# and autoscaling coordinator, and the dashboard's State API module (one of its ~10 processes).
LEFT_OUT = ("PlacementGroupCleaner", "DatasetManager", "AutoscalingCoordinator", "StateHead")


def _titles(pids: set[int]) -> dict[str, tuple[str, bool]]:
    """Each process's command line: its environment as NUL-separated text, and, for Train
    controllers, whether it has torch's library mapped (imported torch). Only the controllers'
    memory maps are read: reading every process's, five times a second, slowed the run."""
    titles = {}
    for pid in pids:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            torch = "TrainController" in title and (
                "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()
            )
        except OSError:
            continue
        _, had_torch = titles.get(title, ("", False))
        titles[title] = (environ, torch or had_torch)
    return titles


EPOCH_LINE = re.compile(r"Epoch (\d+)/4:")


def _watched_train(config, tmp_path, kill_after_epoch: int):
    """`regional-lstm train` on its own Ray, its process tree sampled from /proc while it runs;
    one Train worker SIGKILLed once ``kill_after_epoch`` is logged. Returns the exit code, the
    output, the killed pid and what the watch saw (`_titles`)."""
    path = tmp_path / "watched.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    command = [sys.executable, "-m", "regional_lstm", "train", "--restart", str(path)]
    lines: list[str] = []
    killed: list[int] = []
    seen: dict[str, tuple[str, bool]] = {}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:

        def follow() -> None:
            for line in process.stdout:
                lines.append(line)
                epoch = EPOCH_LINE.search(line)
                if not killed and epoch and int(epoch[1]) == kill_after_epoch:
                    tree = descendants(process.pid)
                    killed.append(next(p for p in tree if "RayTrainWorker" in command_line(p)))
                    os.kill(killed[0], signal.SIGKILL)

        reader = threading.Thread(target=follow)
        reader.start()
        deadline = time.monotonic() + 400
        while process.poll() is None and time.monotonic() < deadline:
            for title, (environ, torch) in _titles(descendants(process.pid)).items():
                seen[title] = (environ, torch or seen.get(title, ("", False))[1])
            time.sleep(0.5)
        if process.poll() is None:
            process.kill()
        reader.join()
    return process.returncode, "".join(lines), killed[0] if killed else None, seen


def test_a_local_train_beside_the_cluster_runs_lean_and_outlives_a_killed_worker(
    two_nodes, submitted, tiny_store, tmp_path
):
    """`regional-lstm train` as a user runs it, beside the running cluster: a Ray of its own (a
    plain ray.init() would join the cluster), without the actors it has no use for, workers
    with the allocator settings; and with RAY_MAX_FAILURES 1 a Train worker killed with
    SIGKILL after epoch 2 of 4 is replaced, training resumes from the last checkpoint and the
    outputs are those of an undisturbed run: the submitted one, the same experiment on the
    same data (from S3) with the same seed and two workers."""
    cluster, _ = two_nodes
    calm, *_ = submitted
    hurt = tiny_config(tiny_store, tmp_path / "hurt", RAY_MAX_FAILURES=1, **TWIN)
    code, output, killed, seen = _watched_train(hurt, tmp_path, kill_after_epoch=2)
    assert killed is not None, output
    assert code == 0, output

    # Resumed from a checkpoint: every epoch, one of them repeated at most.
    print("".join(line for line in output.splitlines(True) if "Epoch" in line))  # with -s
    epochs = [int(m[1]) for m in EPOCH_LINE.finditer(output)]
    assert epochs[-1] == 4 and set(epochs) == {1, 2, 3, 4}
    assert len(epochs) - len(set(epochs)) <= 1
    # The same outputs as the undisturbed run.
    results = [project / "results" for project in (calm.PROJECT_DIR, hurt.PROJECT_DIR)]
    assert (results[0] / "metrics.csv").is_file()
    assert sorted(p.name for p in results[1].iterdir()) == sorted(
        p.name for p in results[0].iterdir()
    )
    calm_nse, hurt_nse = (pd.read_csv(r / "metrics.csv", index_col=0)["NSE"] for r in results)
    assert (calm_nse - hurt_nse).abs().median() < 0.1  # within the noise of a tiny model

    # Its own Ray: none of its workers on the cluster's nodes.
    uri = f"sqlite:///{hurt.PROJECT_DIR / 'mlflow.db'}"
    (run,) = client_for(uri).search_runs(
        [client_for(uri).get_experiment_by_name("tiny").experiment_id]
    )
    nodes = set(json.loads(run.data.tags["regional_lstm.worker_nodes"]))
    assert not nodes & {node.node_id for node in cluster.list_all_nodes()}
    # Lean: what it leaves out never appeared, before or after the restart.
    workers = [environ for title, (environ, _) in seen.items() if "RayTrainWorker" in title]
    assert workers, list(seen)  # the watch saw the run
    assert not [t for t in seen if any(name in t for name in LEFT_OUT)]
    # The Train controller, which only coordinates, never loads torch (distributed.backend).
    controllers = [torch for title, (_, torch) in seen.items() if "TrainController" in title]
    assert controllers and not any(controllers), list(seen)
    # ... and its workers started with the allocator settings (regional_lstm.allocator).
    for environ in workers:
        assert {f"{k}={v}" for k, v in ENVIRONMENT.items()} <= set(environ.split("\0"))


def test_a_sweep_that_loses_a_node_then_its_driver_resumes_and_records_no_run_twice(
    two_nodes, tiny_store, tmp_path
):
    """Two trials side by side, one worker each: one of one epoch, one of six. Once the first
    has finished and the second has logged an epoch, the node the second trains on is killed
    and a fresh node joins, as an autoscaler's would. Once the second trial trains again, the
    job's driver is SIGKILLed; `submit --verb tune --resume` finishes the sweep,
    with the trial that finished first kept as it was and no trial's run recorded twice."""
    cluster, address = two_nodes
    config = tiny_config(
        tiny_store,
        tmp_path / "sweep",
        LSTM_EPOCHS=[1, 6],  # the second trains on for several seconds after the first ends
        OPTIMIZATION_ALGORITHM="GridSearch",
        LSTM_SAMPLES_PER_EPOCH=8192,
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    submit = ["submit", str(path), "--verb", "tune", "--address", address, "--wait"]
    uri = f"sqlite:///{config.PROJECT_DIR / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    with subprocess.Popen(
        [sys.executable, "-m", "regional_lstm", *submit],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    ) as process:
        finished, victim, second = _when_second_trial_trains(cluster, uri)
        cluster.remove_node(victim, allow_graceful=False)
        logged = _steps(uri, second)
        _add_node(cluster)
        os.kill(_driver_once_retrained(uri, second, logged), signal.SIGKILL)
        output, _ = process.communicate(timeout=400)
    assert process.returncode == 1 and "FAILED" in output, output
    resumed = _cli(*submit, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    trials = _trial_runs(uri)
    client = client_for(uri)
    for trial, (run,) in sorted(trials.items()):  # with -s: the evidence
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
        print(f"trial {trial}: epochs logged {steps}", "(finished first)" * (trial == finished))
        epochs = int(run.data.params["LSTM_EPOCHS"])
        assert steps[-1] == epochs and len(steps) - len(set(steps)) <= 1  # one repeated at most
    # The trial finished before the losses is kept as it was: one run, not trained again.
    assert [run.info.status for run in trials[finished]] == ["FINISHED"]
    assert len(trials) == 2 and all(len(runs) == 1 for runs in trials.values())
    assert all(runs[0].info.status == "FINISHED" for runs in trials.values())
    experiment = client.get_experiment_by_name("tiny").experiment_id
    kinds = [r.data.tags.get("regional_lstm.kind") for r in client.search_runs([experiment])]
    assert kinds.count("tune") == 1, kinds  # the sweep's parent run was reopened
    table = pd.read_csv(config.PROJECT_DIR / "tune" / "trials.csv")
    assert sorted(table["LSTM_EPOCHS"]) == [1, 6] and table["best_score"].notna().all()
    assert (config.PROJECT_DIR / "tune" / "best_config.yaml").is_file()


def _steps(uri: str, trial: str) -> int:
    """How many epochs the trial's run has logged."""
    (run,) = _trial_runs(uri)[trial]
    return len(client_for(uri).get_metric_history(run.info.run_id, "train_loss"))


def _driver_once_retrained(uri: str, trial: str, logged: int, timeout: float = 300) -> int:
    """The pid of the sweep job's driver (the `regional-lstm tune` the job's shell started, on
    the head) once ``trial`` has logged an epoch past ``logged``, on its new worker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _steps(uri, trial) > logged:
            drivers = [
                int(entry.name)
                for entry in Path("/proc").iterdir()
                if entry.name.isdigit()
                and "regional-lstm tune" in (line := command_line(int(entry.name)))
                and "mktemp" not in line
            ]
            assert len(drivers) == 1, drivers
            return drivers[0]
        time.sleep(0.3)
    raise AssertionError(f"trial {trial} never trained past epoch {logged} after the node loss")


def _trial_runs(uri: str) -> dict[str, list]:
    """The sweep's trial runs by trial id."""
    client = client_for(uri)
    experiment = client.get_experiment_by_name("tiny")
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], "tags.regional_lstm.kind = 'train'")
    found: dict[str, list] = {}
    for run in runs:
        if "regional_lstm.trial_id" in run.data.tags:
            found.setdefault(run.data.tags["regional_lstm.trial_id"], []).append(run)
    return found


def _when_second_trial_trains(cluster: Cluster, uri: str, timeout: float = 300):
    """Wait until one trial has finished and another has logged an epoch; return the finished
    trial's id, the node the other trains on, and the other's id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trials = _trial_runs(uri)
        done = [t for t, runs in trials.items() if runs[0].info.status == "FINISHED"]
        training = [
            t
            for t, runs in trials.items()
            if runs[0].info.status == "RUNNING" and "train_loss" in runs[0].data.metrics
        ]
        if done and training:
            # Where each rank trains, as the run records it (a one-worker trial: its own process)
            nodes = json.loads(trials[training[0]][0].data.tags.get(WORKER_NODES_TAG, "[]"))
            victims = [node for node in cluster.worker_nodes if node.node_id in nodes]
            if victims:
                return done[0], victims[0], training[0]
        time.sleep(0.3)
    raise AssertionError(f"the sweep never had a finished and a training trial: {trials}")
