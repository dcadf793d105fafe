"""What every run records in MLflow: config as params, data fingerprint, code version, results."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from regional_lstm import __version__
from regional_lstm.config import Config
from regional_lstm.errors import TrackingError, failure_reason
from regional_lstm.locations import ROOT_METADATA, Location, location
from regional_lstm.tracking.store import (
    client_for,
    ensure_experiment,
    experiment_name,
    is_server,
    require_reachable,
    shown_uri,
    tracking_uri,
)

PARAM_LIMIT = 6000  # MLflow's maximum length of a param value
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class TrackedRun:
    """An MLflow run by id and tracking URI: picklable, so Ray workers can log to it."""

    uri: str
    run_id: str

    @property
    def client(self) -> MlflowClient:
        return client_for(self.uri)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch, synchronous=True)

    def set_tags(self, tags: dict[str, str]) -> None:
        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def finish(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)

    def tag(self, key: str) -> str | None:
        """The value of one of the run's tags (None when it has no such tag)."""
        return self.client.get_run(self.run_id).data.tags.get(key)

    def log_artifact(self, path: Path, artifact_path: str) -> None:
        """Upload one file under ``artifact_path`` of the run's artifacts."""
        self.client.log_artifact(self.run_id, str(path), artifact_path=artifact_path)

    def children(self, *, tags: dict[str, str] | None = None, status: str | None = None):
        """The runs whose parent is this run, optionally with the given tags or status."""
        client = self.client
        experiment = client.get_run(self.run_id).info.experiment_id
        clauses = [f"tags.mlflow.parentRunId = '{self.run_id}'"]
        clauses += [f"tags.`{key}` = '{value}'" for key, value in (tags or {}).items()]
        if status is not None:
            clauses.append(f"attributes.status = '{status}'")
        found = client.search_runs([experiment], filter_string=" and ".join(clauses))
        return [TrackedRun(self.uri, run.info.run_id) for run in found]


def start_run(
    config: Config,
    kind: str,
    *,
    run_name: str | None = None,
    parent: TrackedRun | None = None,
    data_fingerprint: dict[str, str] | None = None,
) -> TrackedRun:
    """Open a run of ``kind`` (train, evaluate, tune, ...) recording config, data and code."""
    uri = tracking_uri(config)
    require_reachable(uri)
    client = client_for(uri)
    # A server keeps the artifacts in its own store: not on whichever node ran the job.
    artifacts = None if is_server(uri) else config.PROJECT_DIR / "mlartifacts"
    experiment = ensure_experiment(client, experiment_name(config), artifacts)
    tags = {"regional_lstm.kind": kind, "regional_lstm.version": __version__, **code_version()}
    if parent is not None:
        tags["mlflow.parentRunId"] = parent.run_id
    run = client.create_run(
        experiment, tags=tags, run_name=run_name or f"{config.DOMAIN_NAME}-{kind}"
    )
    tracked = TrackedRun(uri, run.info.run_id)
    params = config_params(config) | {f"data.{k}": v for k, v in (data_fingerprint or {}).items()}
    items = [Param(k, v) for k, v in params.items()]
    for first in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
        client.log_batch(tracked.run_id, params=items[first : first + 100])
    return tracked


def reopen(uri: str, run_id: str) -> TrackedRun | None:
    """The run ``run_id`` marked running again (a resumed training), or None if it is gone."""
    require_reachable(uri)
    client = client_for(uri)
    try:
        client.get_run(run_id)
    except MlflowException:  # a deleted run or another store: the caller starts a new one
        return None
    client.update_run(run_id, status="RUNNING")
    return TrackedRun(uri, run_id)


def config_params(config: Config) -> dict[str, str]:
    """Every config key as a string param (lists and mappings as JSON)."""
    params = {}
    for key, value in config.to_yaml_dict().items():
        text = value if isinstance(value, str) else json.dumps(value)
        params[key] = text[:PARAM_LIMIT]
    return params


def fingerprint(
    store: str | Path | Location, basins: list[str], periods: dict[str, str]
) -> dict[str, str]:
    """What data a run saw: store path, basins (count and hash), periods, store metadata hash."""
    store = location(store)
    metadata = store.read_bytes(ROOT_METADATA)
    digest = hashlib.sha256(metadata).hexdigest() if metadata is not None else "none"
    return {
        "store": str(store),
        "store_metadata_sha256": digest,
        "n_basins": str(len(basins)),
        "basins_sha1": hashlib.sha1("\n".join(basins).encode()).hexdigest(),
        **periods,
    }


def code_version() -> dict[str, str]:
    """The toolkit's git commit (and whether the tree had changes), when run from a checkout."""
    if not (PACKAGE_ROOT / ".git").exists():
        return {}
    try:
        commit = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
        dirty = subprocess.run(
            ["git", "-C", str(PACKAGE_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {
        "mlflow.source.git.commit": commit.strip(),
        "regional_lstm.git_dirty": str(bool(dirty.strip())).lower(),
    }


def log_results(
    run: TrackedRun, summary: dict[str, Any], results_dir: Path, prefix: str = ""
) -> None:
    """Final metrics (median/mean NSE and KGE, basin counts) and the results folder."""
    run.log_metrics({f"{prefix}{k}": float(v) for k, v in summary.items()})
    run.client.log_artifacts(run.run_id, str(results_dir), artifact_path="results")


@contextmanager
def closing(run: TrackedRun) -> Iterator[TrackedRun]:
    """Mark ``run`` FINISHED when the block ends, KILLED on Ctrl-C, FAILED on any other error."""
    try:
        yield run
    except BaseException as error:
        with suppress(MlflowException, OSError):  # the store is gone: the error says so
            run.finish("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    run.finish()


@contextmanager
def logging_to(run: TrackedRun, what: str, kept: str) -> Iterator[None]:
    """MLflow calls that may find the store gone mid-run: one TrackingError saying ``what`` was
    not logged, and what the local outputs ``kept`` hold."""
    try:
        yield
    except (MlflowException, OSError) as error:
        raise TrackingError(
            f"MLflow: {what} of run {run.run_id} were not logged to {shown_uri(run.uri)} "
            f"({failure_reason(error)}); {kept}"
        ) from None
