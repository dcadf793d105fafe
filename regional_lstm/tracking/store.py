"""Where runs are tracked: a local sqlite store in PROJECT_DIR unless a server is named."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient

from regional_lstm.config import Config
from regional_lstm.errors import ConfigError, TrackingError, failure_reason
from regional_lstm.locations import redact_passwords
from regional_lstm.tracking.database import seed

DATABASE = "mlflow.db"
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# Loggers that announce every fresh sqlite store ("Creating initial MLflow database tables...").
DATABASE_SETUP_LOGGERS = ("mlflow.store.db.utils", "alembic")


def tracking_uri(config: Config) -> str:
    """MLFLOW_TRACKING_URI from the config, else the environment, else PROJECT_DIR/mlflow.db.

    The default is an absolute sqlite URI so Ray workers in other directories reach the same
    database (MLflow 3 no longer accepts plain folders as tracking stores).
    """
    if config.MLFLOW_TRACKING_URI:
        return config.MLFLOW_TRACKING_URI
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    config.PROJECT_DIR.mkdir(parents=True, exist_ok=True)
    seed(config.PROJECT_DIR / DATABASE)
    return _sqlite_uri(config.PROJECT_DIR / DATABASE)


def resolve_tracking_uri(project: Path | None = None, uri: str | None = None) -> str:
    """The store a command names: ``uri``, else ``project``'s mlflow.db, else $MLFLOW_TRACKING_URI.

    ``project`` must already hold an mlflow.db: a typo in a PROJECT_DIR should not start an
    empty store. Raises ConfigError when none of the three is given.
    """
    if uri:
        return uri
    if project is not None:
        database = project / DATABASE
        if not database.is_file():
            raise ConfigError(f"{project}: no {DATABASE} here (is it a PROJECT_DIR?)")
        return _sqlite_uri(database)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    raise ConfigError("say which MLflow store: --project PROJECT_DIR or --tracking-uri URI")


def _sqlite_uri(database: Path) -> str:
    return f"sqlite:///{database.absolute()}"


def experiment_name(config: Config) -> str:
    """MLFLOW_EXPERIMENT_NAME, else DOMAIN_NAME."""
    return config.MLFLOW_EXPERIMENT_NAME or config.DOMAIN_NAME


def client_for(uri: str) -> MlflowClient:
    """A client bound to ``uri`` (both tracking and registry), quiet about its own upgrades."""
    _quiet_database_setup()
    _bounded_retries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def using_store(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.search_runs``, ``start_run``...) at ``uri`` for a block.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` also export MLFLOW_TRACKING_URI and
    MLFLOW_REGISTRY_URI, which would silently send every later run of this process (and its
    subprocesses) to this store. On exit both URIs are unset and those variables put back;
    MLflow mirrors an explicitly set URI in them, so whatever was in force before is again.
    """
    saved = {name: os.environ.get(name) for name in URI_VARIABLES}
    _quiet_database_setup()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        # None unsets: MLflow's own temporary-URI helper restores an unset URI the same way.
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


SERVER_SCHEMES = ("http", "https", "databricks")
# MLflow retries a failed request 7 times with doubling pauses (~4 min); a run whose server has
# gone would stall that long on every call. A user's own setting of either variable stands.
HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
REACH_TIMEOUT_S = 5.0


def require_reachable(uri: str) -> None:
    """Raise TrackingError unless the tracking server ``uri`` answers its health check.

    Before a run starts, so an unreachable server costs seconds, not a training.
    """
    if urlparse(uri).scheme not in ("http", "https"):
        return
    import requests

    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=REACH_TIMEOUT_S).raise_for_status()
    except requests.RequestException as error:
        raise TrackingError(
            f"MLflow tracking server {shown_uri(uri)} cannot be reached "
            f"({failure_reason(error)}): start it, or leave MLFLOW_TRACKING_URI unset to log "
            "to PROJECT_DIR/mlflow.db"
        ) from None


def shown_uri(uri: str) -> str:
    """``uri`` with its password (if any) redacted, for messages."""
    return redact_passwords(uri)


def _bounded_retries() -> None:
    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)


def _quiet_database_setup() -> None:
    """Keep MLflow's table creation and alembic's migration notes (INFO) out of the console."""
    for name in DATABASE_SETUP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def ensure_experiment(client: MlflowClient, name: str, artifact_root: Path | None) -> str:
    """The id of experiment ``name``; if new, created with an absolute artifact location, or
    (``artifact_root`` None) where the tracking server keeps artifacts."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    if artifact_root is None:
        return client.create_experiment(name)
    artifact_root.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=artifact_root.absolute().as_uri())


def is_server(uri: str) -> bool:
    """Whether ``uri`` names a tracking server (which also stores the artifacts), not a file."""
    return urlparse(uri).scheme in SERVER_SCHEMES
