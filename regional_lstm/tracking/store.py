"""Where runs are tracked: a local sqlite store in PROJECT_DIR unless a server is named."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from mlflow import MlflowClient

from regional_lstm.config import Config


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
    return f"sqlite:///{(config.PROJECT_DIR / 'mlflow.db').absolute()}"


def experiment_name(config: Config) -> str:
    """MLFLOW_EXPERIMENT_NAME, else DOMAIN_NAME."""
    return config.MLFLOW_EXPERIMENT_NAME or config.DOMAIN_NAME


def client_for(uri: str) -> MlflowClient:
    """A client bound to ``uri`` (both tracking and registry), quiet about its own upgrades."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, artifact_root: Path) -> str:
    """The id of experiment ``name``, created with an absolute artifact location if new."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    artifact_root.mkdir(parents=True, exist_ok=True)
    return client.create_experiment(name, artifact_location=artifact_root.absolute().as_uri())
