"""Logging models to MLflow (weights + sidecar + pyfunc code) and the model registry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from regional_lstm.artifacts import sidecar_path
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.tracking.runs import TrackedRun
from regional_lstm.tracking.store import client_for

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
MODEL_NAME = "model"


@contextmanager
def using_store(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` for a block, then put everything back.

    ``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI, which would silently send every
    later run of this process (and its subprocesses) to this store.
    """
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved_tracking, saved_registry = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        registry_utils._registry_uri = saved_registry
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def log_model(run: TrackedRun, weights: Path) -> str:
    """Log the saved model to ``run`` as a pyfunc; returns its ``models:/`` URI.

    The weights and the JSON sidecar are plain artifacts; the pyfunc is defined by code, so
    loading it never unpickles anything.
    """
    with using_store(run.uri), mlflow.start_run(run_id=run.run_id):
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(PYFUNC_CODE),
            artifacts={"weights": str(weights), "sidecar": str(sidecar_path(weights))},
            pip_requirements=["torch", "numpy", "pandas", "xarray", "regional-lstm"],
        )
    return info.model_uri


def register(run: TrackedRun, model_uri: str, name: str) -> str:
    """Register ``model_uri`` as a new version of ``name``.

    MLflow 3 reserves the alias ``latest``: ``models:/NAME@latest`` always resolves to the newest
    version, so registering moves it; other aliases (``donor``) are set with `promote`.
    """
    with using_store(run.uri):
        version = mlflow.register_model(model_uri, name, tags={"regional_lstm.run_id": run.run_id})
    return str(version.version)


def promote(uri: str, name: str, version: str, alias: str) -> None:
    """Point ``alias`` (e.g. donor) of registered model ``name`` at ``version``."""
    client = client_for(uri)
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        raise RegionalLSTMError(
            f"no version {version} of registered model {name!r} in {uri}"
        ) from None
    client.set_registered_model_alias(name, alias, str(version))


def log_ensemble(run: TrackedRun, folder: Path) -> str:
    """Log an ensemble folder (manifest + member weights and sidecars) as one pyfunc model."""
    with using_store(run.uri), mlflow.start_run(run_id=run.run_id):
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(PYFUNC_CODE),
            artifacts={"ensemble": str(folder)},
            pip_requirements=["torch", "numpy", "pandas", "xarray", "regional-lstm"],
        )
    return info.model_uri
