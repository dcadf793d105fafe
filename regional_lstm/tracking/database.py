"""New project stores start as a copy of an empty one MLflow built, not from MLflow's migrations.

MLflow builds a fresh sqlite store by running every schema migration since its first release
(~2 s of CPU on each new PROJECT_DIR, every trial, test and first command). The empty store it
builds is the same each time for one MLflow version, so it is built once per version in the
user's cache and copied. It is copied without its Default experiment, which MLflow adds on first
opening with this project's artifact folder. Any failure leaves the project to MLflow's own path.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow

from regional_lstm.atomic import copy_new

logger = logging.getLogger(__name__)


def cache_folder() -> Path:
    """$XDG_CACHE_HOME/regional-lstm, else ~/.cache/regional-lstm."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "regional-lstm"


def seed(database: Path) -> bool:
    """Create ``database`` as a copy of the empty store of this MLflow version, unless it
    exists; True when it was seeded. Atomic, and never over a store another process made
    meanwhile (`atomic.copy_new`)."""
    if database.exists():
        return False
    try:
        return copy_new(_template(), database)
    except (OSError, sqlite3.Error, subprocess.SubprocessError) as error:  # MLflow builds it
        logger.debug("MLflow store %s not seeded: %s", database, error)
        return False


def _template() -> Path:
    """The cached empty store of this MLflow version, built on first use."""
    template = cache_folder() / f"mlflow-{mlflow.__version__}-empty.db"
    if template.is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as folder:
        built = Path(folder) / "empty.db"
        _build(built)
        os.replace(built, template)
    return template


def _build(path: Path) -> None:
    """An empty store as MLflow builds it (in a process of its own), less its Default
    experiment."""
    # A child process: MLflow's migrations configure logging and hold engines in caches.
    code = (
        "import sys; from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore; "
        "SqlAlchemyStore('sqlite:///' + sys.argv[1], sys.argv[2])"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(path), str(path.parent / "artifacts")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM experiments")
    connection.close()
