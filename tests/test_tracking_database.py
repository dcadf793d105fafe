"""A new project's sqlite store is a copy of the empty store MLflow built once, not a migration."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from regional_lstm.tracking.database import cache_folder, seed
from regional_lstm.tracking.store import client_for


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return cache_folder()


def _schema(database: Path) -> dict[str, frozenset[str]]:
    """Each table's and index's definition as a set of its lines, and the schema version: the
    order of a table's constraints differs between two stores MLflow builds itself (it follows
    Python's string hashing, seen with PYTHONHASHSEED 1 and 2)."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
        schema = {
            name: frozenset(line.strip().rstrip(",") for line in sql.split("\n"))
            for name, sql in rows
        }
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    connection.close()
    return schema | {"alembic_version": frozenset(map(str, version))}


def _default_experiment(database: Path) -> str:
    client = client_for(f"sqlite:///{database}")
    return client.get_experiment("0").artifact_location.replace(str(database.parent), "PROJECT")


def test_a_seeded_store_is_the_store_mlflow_builds_with_this_projects_default_experiment(
    cache, tmp_path
):
    built, seeded = tmp_path / "built" / "mlflow.db", tmp_path / "seeded" / "mlflow.db"
    built.parent.mkdir(), seeded.parent.mkdir()
    client_for(f"sqlite:///{built}").search_experiments()  # MLflow's own migrations
    assert seed(seeded)
    assert list(cache.glob("mlflow-*-empty.db"))
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(seeded.stat().st_mode) == stat.S_IMODE(built.stat().st_mode)
    assert stat.S_IMODE(seeded.stat().st_mode) == 0o666 & ~umask  # as sqlite makes it
    assert _default_experiment(seeded) == _default_experiment(built)
    assert _schema(seeded) == _schema(built)
    client = client_for(f"sqlite:///{seeded}")
    experiment = client.create_experiment("x", artifact_location=str(tmp_path / "art"))
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "nse", 0.5, step=1)
    assert client.get_metric_history(run.info.run_id, "nse")[0].value == 0.5


def test_a_store_that_exists_is_left_as_it_is(cache, tmp_path):
    database = tmp_path / "project" / "mlflow.db"
    database.parent.mkdir()
    assert seed(database)
    client_for(f"sqlite:///{database}").create_experiment("kept")
    assert not seed(database)
    assert client_for(f"sqlite:///{database}").get_experiment_by_name("kept") is not None
    assert [p.name for p in database.parent.iterdir()] == ["mlflow.db"]  # no staged copy left


def test_without_a_writable_cache_mlflow_builds_the_store_itself(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    database = tmp_path / "project" / "mlflow.db"
    database.parent.mkdir()
    assert not seed(database)
    assert not database.exists()
    assert client_for(f"sqlite:///{database}").get_experiment("0") is not None
