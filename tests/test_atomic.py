"""Atomic writers: files appear whole, with the mode the umask asks for, or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from regional_lstm.atomic import atomic_path, copy_new, replace_dir, write_bytes, write_text


def write_with_path(path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"written by a writer that takes a file name")
    return path


WRITERS = {
    "text": lambda path: write_text(path, "basin,NSE\n01013500,0.7\n"),
    "bytes": lambda path: write_bytes(path, b"\x00\x01 weights"),
    "path": write_with_path,
}


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the previous one back."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_get_the_mode_the_umask_asks_for(writer, mask, expected, umask, tmp_path):
    umask(mask)
    path = WRITERS[writer](tmp_path / "results" / "metrics.csv")
    assert mode(path) == expected


@pytest.mark.parametrize("writer", WRITERS)
def test_an_existing_file_is_replaced_and_no_temporary_file_is_left(writer, tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("old")
    WRITERS[writer](path)
    assert path.read_bytes() != b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]


def test_text_and_bytes_arrive_as_written(tmp_path):
    assert write_text(tmp_path / "a.json", '{"x": 1}').read_text() == '{"x": 1}'
    assert write_bytes(tmp_path / "b.pt", b"\x00\xff").read_bytes() == b"\x00\xff"


def test_a_failing_writer_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "best_model.pt"
    path.write_bytes(b"previous weights")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(path) as tmp:
        tmp.write_bytes(b"half of the new")
        raise RuntimeError("disk full")
    assert path.read_bytes() == b"previous weights"
    assert [p.name for p in tmp_path.iterdir()] == ["best_model.pt"]


def test_a_failing_writer_creates_no_file_where_there_was_none(tmp_path):
    with pytest.raises(ValueError), atomic_path(tmp_path / "plot.png"):
        raise ValueError("bad figure")
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_is_hidden_beside_the_target_and_keeps_its_suffix(tmp_path):
    with atomic_path(tmp_path / "plots" / "nse_cdf.png") as tmp:
        assert tmp.parent == tmp_path / "plots"
        assert tmp.name.startswith(".nse_cdf.") and tmp.suffix == ".png"
        assert tmp.is_file() and tmp.stat().st_size == 0


def test_replace_dir_swaps_a_finished_folder_in_and_removes_the_old_one(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staged = tmp_path / ".staging"
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    replace_dir(staged, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["store.zarr"]


def test_replace_dir_creates_the_target_and_its_parents(tmp_path):
    staged = tmp_path / ".staging"
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    target = tmp_path / "nested" / "store.zarr"
    replace_dir(staged, target)
    assert (target / "new.txt").read_text() == "new"
    assert not staged.exists()


def test_copy_new_copies_once_and_never_over_an_existing_file(tmp_path):
    source, target = tmp_path / "source.db", tmp_path / "out" / "target.db"
    source.write_bytes(b"template")
    target.parent.mkdir()
    assert copy_new(source, target)
    assert target.read_bytes() == b"template"
    target.write_bytes(b"in use")
    assert not copy_new(source, target)
    assert target.read_bytes() == b"in use"
    assert [p.name for p in target.parent.iterdir()] == ["target.db"]  # no copy left beside
