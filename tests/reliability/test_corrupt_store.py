"""Damaged stores: a chunk whose bytes are damaged, a chunk file or an array that has gone, and
metadata that do not match the arrays are each one line naming the store and the variable,
wherever the store is read (opening, windows, normalisation, the worker loop, inspect, the
summary), never NaN passed off as missing data. Errors raised on Ray workers come back as
that same line."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from regional_lstm.config_periods import Period
from regional_lstm.data.inspect import summarize_store
from regional_lstm.data.normalize import fit_normalization
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.rechunk import write_summary
from regional_lstm.data.sampling import DataSpec
from regional_lstm.data.scan import scan_store
from regional_lstm.data.store import open_store
from regional_lstm.errors import StoreError
from tests.conftest import assert_one_line_error, edited_store, run_cli, tiny_config

CHUNK = Path("prcp") / "c" / "0" / "0"  # the tiny store's one chunk of prcp


@pytest.fixture
def store(tiny_store, tmp_path) -> Path:
    """A copy of the tiny store (6 basins x 4 years, one chunk per variable), to damage."""
    return Path(shutil.copytree(tiny_store, tmp_path / "store.zarr"))


def store_error(call, store: Path, *needles: str) -> str:
    """The StoreError ``call()`` raises: one line naming the store and ``needles``."""
    with pytest.raises(StoreError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for needle in (str(store), *needles):
        assert needle in message
    return message


def read_all(store: Path, names=("prcp",)) -> np.ndarray:
    reader = StoreReader(store)
    return reader.read_dynamic(reader.basins, list(names), slice(0, len(reader.time)))


def edit_metadata(store: Path, name: str, edit, consolidated: bool = True, own: bool = True):
    """Edit a variable's metadata in its own zarr.json and/or the consolidated copy."""
    if own:
        file = store / name / "zarr.json"
        file.write_text(json.dumps(edit(json.loads(file.read_text()))))
    if consolidated:
        root = json.loads((store / "zarr.json").read_text())
        entries = root["consolidated_metadata"]["metadata"]
        entries[name] = edit(entries[name])
        (store / "zarr.json").write_text(json.dumps(root))


def overwrite(file: Path, offset: int, data: bytes) -> None:
    content = bytearray(file.read_bytes())
    content[offset : offset + len(data)] = data
    file.write_bytes(bytes(content))


DAMAGES = {
    "bytes-overwritten": lambda f: overwrite(f, 20, bytes(40)),
    "truncated": lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]),
    "emptied": lambda f: f.write_bytes(b""),
    "foreign-bytes": lambda f: f.write_bytes(bytes(range(256)) * 8),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_damaged_chunk_read_as_windows_names_the_store_variable_and_chunk(store, damage):
    damage(store / CHUNK)
    store_error(lambda: read_all(store), store, "'prcp'", "chunk prcp/c/0/0 is damaged")


def test_a_damaged_chunk_read_for_normalisation_statistics_is_one_line(store):
    DAMAGES["bytes-overwritten"](store / CHUNK)
    reader = StoreReader(store)
    start, end = pd.Timestamp("1990-01-01"), pd.Timestamp("1992-12-31")
    fit = lambda: fit_normalization(reader, reader.basins, start, end, ["prcp"], [], ["swe"])  # noqa: E731
    store_error(fit, store, "'prcp'", "damaged")


def test_a_damaged_chunk_read_by_the_training_worker_loop_is_one_line(store, tmp_path):
    from regional_lstm.pipeline.planning import make_plan
    from regional_lstm.training.fit import WorkerContext, fit

    # Planning reads the summary (whole years), not the chunk: the worker is the first to.
    plan = make_plan(tiny_config(store, tmp_path / "project", LSTM_SAMPLES_PER_EPOCH=64))
    DAMAGES["truncated"](store / CHUNK)
    store_error(lambda: fit(plan, WorkerContext()), store, "'prcp'", "damaged")


def test_a_damaged_attribute_chunk_is_one_line(store):
    DAMAGES["truncated"](store / "area" / "c" / "0")
    reader = StoreReader(store)
    store_error(lambda: reader.read_static(reader.basins, ["area"]), store, "'area'", "damaged")


def test_inspect_names_a_damaged_chunk(store):
    DAMAGES["bytes-overwritten"](store / CHUNK)
    store_error(lambda: summarize_store(store), store, "'prcp'", "chunk prcp/c/0/0 is damaged")


def test_a_damaged_summary_chunk_is_one_line(store):
    DAMAGES["truncated"](store / "summary" / "prcp_missing" / "c" / "0" / "0")
    reader = StoreReader(store)
    spec = DataSpec(("prcp", "tmin", "tmax", "pet"), (), ("streamflow",), 60)
    period = Period(pd.Timestamp("1990-01-01"), pd.Timestamp("1992-12-31"))
    scan = lambda: scan_store(reader, reader.basins, period, spec)  # noqa: E731
    store_error(scan, store, "summary/prcp_missing", "damaged")


def test_a_summary_chunk_file_that_has_gone_is_one_line_not_nan_statistics(store, tmp_path):
    from regional_lstm.pipeline.planning import make_plan

    (store / "summary" / "prcp_moments" / "c" / "0" / "0" / "0").unlink()
    config = tiny_config(store, tmp_path / "project")
    store_error(lambda: make_plan(config), store, "summary of 'prcp'", "regional-lstm summarize")


def test_a_deleted_chunk_file_is_refused_when_the_store_is_opened(store):
    (store / CHUNK).unlink()
    store_error(
        lambda: open_store(store), store, "'prcp'", "chunk file prcp/c/0/0 is missing", "summary"
    )


def test_a_deleted_chunk_file_is_refused_before_any_window_is_read(store):
    (store / CHUNK).unlink()
    store_error(lambda: read_all(store), store, "'prcp'", "prcp/c/0/0")


def test_a_deleted_coordinate_chunk_is_refused(store):
    (store / "time" / "c" / "0").unlink()
    store_error(lambda: open_store(store), store, "'time'", "time/c/0 is missing")


def no_swe(ds):
    ds["swe"][:] = np.nan
    return ds


def test_a_chunk_never_written_because_every_value_is_missing_reads_as_missing(
    tiny_store, tmp_path, caplog
):
    store = edited_store(tiny_store, tmp_path / "no_swe.zarr", no_swe)
    assert not (store / "swe" / "c" / "0" / "0").exists()  # zarr writes no all-NaN chunk
    write_summary(store)
    caplog.clear()  # opening it to summarize warned, rightly: no summary yet
    with caplog.at_level(logging.WARNING):
        values = read_all(store, ["swe", "prcp"])
    assert np.isnan(values[..., 0]).all() and not np.isnan(values[..., 1]).all()
    assert "absent" not in caplog.text


def test_an_absent_chunk_in_a_store_without_a_summary_is_named_in_a_warning(
    tiny_store, tmp_path, caplog
):
    store = edited_store(tiny_store, tmp_path / "no_swe.zarr", no_swe)
    with caplog.at_level(logging.WARNING):
        open_store(store)
    assert "swe has 1 chunk file(s) absent (swe/c/0/0 first)" in caplog.text


def test_a_removed_array_the_metadata_still_list_is_refused(store):
    shutil.rmtree(store / "prcp")
    store_error(lambda: read_all(store), store, "'prcp'", "its array (prcp/zarr.json) is missing")


def test_consolidated_metadata_pointing_to_an_array_that_never_existed_are_refused(store):
    root = json.loads((store / "zarr.json").read_text())
    entries = root["consolidated_metadata"]["metadata"]
    entries["ghost"] = entries["prcp"]
    (store / "zarr.json").write_text(json.dumps(root))
    store_error(lambda: open_store(store), store, "'ghost'", "missing")


def shape(length):
    return lambda meta: meta | {"shape": [6, length]}


def chunks(basins, days):
    grid = {"name": "regular", "configuration": {"chunk_shape": [basins, days]}}
    return lambda meta: meta | {"chunk_grid": grid}


@pytest.mark.parametrize(
    ("edit", "consolidated", "own", "needles"),
    [
        pytest.param(shape(100), False, True, ("its prcp/zarr.json gives shape",), id="own-shape"),
        pytest.param(shape(100), True, False, ("time length 100",), id="consolidated-shape"),
        pytest.param(shape(2000), True, True, ("time length 2000",), id="both-shape"),
        pytest.param(
            lambda m: m | {"data_type": "int32"}, True, True, ("stored as int32",), id="int-dtype"
        ),
        pytest.param(
            lambda m: m | {"data_type": "float64"}, False, True, ("data_type",), id="own-dtype"
        ),
        pytest.param(
            chunks(3, 100),
            False,
            True,
            ("chunk_grid",),
            id="own-chunks",
        ),
        pytest.param(
            lambda m: m | {"dimension_names": ["time", "basin"]},
            True,
            True,
            ("time length 6",),
            id="dims-swapped",
        ),
        pytest.param(
            chunks(6, 500), True, True, ("chunk file prcp/c/0/1 is missing",), id="chunk-shape"
        ),
    ],
)
def test_metadata_that_do_not_match_the_arrays_are_refused_when_opened(
    store, edit, consolidated, own, needles
):
    edit_metadata(store, "prcp", edit, consolidated, own)
    store_error(lambda: open_store(store), store, "'prcp'", *needles)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m | {"data_type": "float64"}, id="float64"),
        pytest.param(lambda m: m | {"codecs": m["codecs"][:1]}, id="codec-dropped"),
    ],
)
def test_metadata_edited_consistently_but_not_matching_the_chunks_fail_on_read(store, edit):
    edit_metadata(store, "prcp", edit)
    store_error(lambda: read_all(store), store, "'prcp'", "cannot be read")


@pytest.mark.parametrize("text", [b"{garbage", b"[]", b'{"zarr_format": 3, "node_type": "group"}'])
def test_damaged_root_metadata_are_one_line(store, text):
    (store / "zarr.json").write_bytes(text)
    store_error(lambda: open_store(store), store, "root metadata")


def test_an_error_raised_on_a_ray_worker_is_unwrapped_to_its_own_line():
    from ray.exceptions import RayTaskError
    from ray.train import WorkerGroupError

    from regional_lstm.distributed.worker_errors import user_error

    original = StoreError("/data/store.zarr: variable 'prcp' cannot be read")
    task = RayTaskError("_simulate_shard", "Traceback (most recent call last):\n ...", original)
    as_cause = task.as_instanceof_cause()
    assert isinstance(as_cause, StoreError) and "\n" in str(as_cause)  # what Ray hands back
    train = WorkerGroupError("Training failed:\n[rank 0] Traceback ...", {0: original})
    chained = RuntimeError("trial failed")
    chained.__cause__ = train
    assert user_error(as_cause) is original
    assert user_error(train) is original
    assert user_error(chained) is original
    assert user_error(RuntimeError("a bug, not the user's")) is None


def test_user_errors_lets_other_errors_through_unchanged():
    from regional_lstm.distributed.worker_errors import user_errors

    bug = ValueError("a bug")
    with pytest.raises(ValueError) as caught, user_errors():
        raise bug
    assert caught.value is bug


def test_run_on_a_store_with_a_damaged_chunk_ends_in_one_line_from_the_ray_worker(store, tmp_path):
    # The one CLI test that starts Ray (~30-45 s): the worker, not the driver, reads the chunk.
    DAMAGES["bytes-overwritten"](store / CHUNK)
    config = tiny_config(store, tmp_path / "project", LSTM_EPOCHS=1, LSTM_SAMPLES_PER_EPOCH=64)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config.to_yaml_dict()))
    result = run_cli("run", config_file)
    assert_one_line_error_last(result, str(store), "'prcp'", "chunk prcp/c/0/0 is damaged")


def assert_one_line_error_last(result, *needles: str) -> None:
    """`assert_one_line_error` for a command that logs progress before failing."""
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0]


def test_inspect_on_the_command_line_names_a_damaged_chunk_in_one_line(store):
    DAMAGES["truncated"](store / CHUNK)
    result = run_cli("inspect", store)
    assert_one_line_error(result, str(store), "'prcp'", "chunk prcp/c/0/0 is damaged")
