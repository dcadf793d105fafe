"""The cluster launch files, checked offline: Ray's launcher schema, and KubeRay's manifest
against the package (image, Ray version, entrypoint, CPU counts)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

from regional_lstm.cli import app

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER_FILES = ["cluster.yaml", "cluster/local.yaml"]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_files_are_valid_for_the_ray_cluster_launcher(name) -> None:
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    config = _load(name)
    jsonschema.validate(config, schema)
    assert config["cluster_name"].startswith("regional-lstm")
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head  # reached through `ray dashboard`, not a port
    setups = [config.get("setup_commands", [])] + [
        node.get("worker_setup_commands", [])
        for node in config.get("available_node_types", {}).values()
    ]
    for commands in setups:
        if commands:
            text = " ".join(commands)
            assert "torch==2.13.0" in text and "regional-lstm" in text


@pytest.mark.parametrize("name", [*LAUNCHER_FILES, "cluster/kuberay.yaml"])
def test_no_credentials_in_the_launch_files(name) -> None:
    text = (ROOT / name).read_text().lower()
    for secret in ("aws_access_key_id", "aws_secret_access_key", "password:", "token:"):
        assert secret not in text, secret


def test_the_aws_cluster_has_a_head_and_cpu_and_gpu_workers_that_scale() -> None:
    config = _load("cluster.yaml")
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # the head trains nothing
    workers = {name: t for name, t in types.items() if name != config["head_node_type"]}
    assert any(t["resources"].get("GPU", 0) >= 1 for t in workers.values())
    assert any("GPU" not in t["resources"] and t["resources"]["CPU"] >= 2 for t in workers.values())
    for node in workers.values():
        assert 0 <= node["min_workers"] <= node["max_workers"] <= config["max_workers"]


def test_the_kuberay_job_runs_one_experiment_with_the_packaged_image() -> None:
    job = _load("cluster/kuberay.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    spec = job["spec"]
    program, verb, config = spec["entrypoint"].split()
    assert program == "regional-lstm"
    assert verb in {c.name or c.callback.__name__ for c in app.registered_commands}
    assert config.startswith("/app/experiments/")
    assert (ROOT / "experiments" / Path(config).name).is_file()
    # The image the Dockerfile builds, for this package version and Ray's tested version.
    dockerfile = (ROOT / "cluster" / "Dockerfile").read_text()
    image = f"regional-lstm:{VERSION}"
    assert f"-t {image} " in dockerfile
    base = re.search(r"^FROM rayproject/ray:(\d+\.\d+\.\d+)-", dockerfile, re.M)
    cluster = spec["rayClusterSpec"]
    assert base and cluster["rayVersion"] == base.group(1)
    assert ray.__version__.startswith(cluster["rayVersion"].rsplit(".", 1)[0])
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    for group in groups:
        (container,) = group["template"]["spec"]["containers"]
        assert container["image"] == image
        assert container["resources"]["requests"] == container["resources"]["limits"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for group in cluster["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        assert group["rayStartParams"]["num-cpus"] == container["resources"]["limits"]["cpu"]
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
