"""Basin ids are data, not paths: a store whose basin id is ``../../../x`` is trained and
evaluated, but no result file is written under a name built from it, inside or outside."""

from __future__ import annotations

import pytest

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.pipeline.results import evaluate_project
from tests.conftest import (
    assert_one_line_error,
    edited_store,
    run_cli,
    tiny_config,
    train_in_process,
)

HOSTILE = "../../../x"


@pytest.fixture(scope="module")
def hostile_store(tiny_store, tmp_path_factory):
    """The tiny store with its last basin renamed to a relative path."""

    def rename(ds):
        return ds.assign_coords(basin=[*ds["basin"].values[:-1].tolist(), HOSTILE])

    path = tmp_path_factory.mktemp("hostile") / "deep" / "er" / "store.zarr"
    return edited_store(tiny_store, path, rename)


def test_results_are_refused_before_any_file_is_written(hostile_store, tmp_path):
    project = tmp_path / "a" / "b" / "c" / "project"
    config = tiny_config(hostile_store, project, LSTM_EPOCHS=1)
    train_in_process(config)
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    with pytest.raises(RegionalLSTMError, match=r"basin id '\.\./\.\./\.\./x' cannot be part"):
        evaluate_project(project, plots=True)
    after = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert after == before  # not even the other basins' files
    assert not list(tmp_path.rglob("x_LSTM_*"))
    result = run_cli("evaluate", project, cwd=tmp_path)
    assert_one_line_error(result, "cannot be part of a file name")
    assert not list(tmp_path.rglob("x_LSTM_*"))
