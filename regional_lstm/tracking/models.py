"""Logging models to MLflow (weights + sidecar + pyfunc code) and the model registry."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from regional_lstm.artifacts import sidecar_path
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.tracking.runs import TrackedRun
from regional_lstm.tracking.store import client_for, using_store

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
MODEL_NAME = "model"
REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))?$")


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


def registry_lineage(reference: str, uri: str) -> dict[str, str]:
    """The run that trained a ``models:/`` or ``runs:/`` model and, if registered, its version.

    Raises LookupError (one line) when the store does not know the reference.
    """
    match = REGISTERED.match(reference)
    if match is None:  # runs:/<run id>/<path>
        return {"regional_lstm.donor_run_id": reference.removeprefix("runs:/").split("/")[0]}
    client = client_for(uri)
    name, alias, version = match["name"], match["alias"], match["version"]
    try:
        if version is not None:
            found = client.get_model_version(name, version)
        elif alias in (None, "latest"):
            versions = client.search_model_versions(f"name = '{name}'")
            found = max(versions, key=lambda v: int(v.version)) if versions else None
        else:
            found = client.get_model_version_by_alias(name, alias)
    except Exception as error:  # MLflow raises its own exception types per store
        raise LookupError(f"not found in {uri} ({str(error).splitlines()[0]})") from None
    if found is None:
        raise LookupError(f"no versions in {uri}")
    return {
        "regional_lstm.donor_model": name,
        "regional_lstm.donor_version": str(found.version),
        "regional_lstm.donor_run_id": str(found.run_id),
    }


def download_model(reference: str, uri: str, download_dir: Path) -> Path:
    """Fetch a logged model's artifacts into ``download_dir``; returns the local folder."""
    download_dir.mkdir(parents=True, exist_ok=True)
    try:
        with using_store(uri):
            return Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=reference, dst_path=str(download_dir)
                )
            )
    except Exception as error:  # as above: each artifact repository has its own errors
        raise LookupError(f"cannot fetch it from {uri} ({str(error).splitlines()[0]})") from None
