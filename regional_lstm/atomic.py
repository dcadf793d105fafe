"""Atomic writes: build beside the target, then rename, so readers never see half a result.

Every file written here gets the mode a plain ``open`` would give it (0o666 less the umask:
0644 under umask 022). ``tempfile.mkstemp`` would make it 0600, and a rename keeps the mode.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A new empty file beside ``path`` to write to; it becomes ``path`` when the block succeeds.

    For writers that take a file name (``torch.save``, ``fig.savefig``, ``frame.to_csv``). The
    temporary name ends in ``path``'s suffix, so writers that infer the format from it still
    do. If the block raises, the temporary file is removed and an existing ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file atomically; returns its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write a binary file atomically; returns its path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def copy_new(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` unless ``target`` exists; True when copied. Of two
    processes copying at once, one wins and the other's copy is dropped: the link that makes
    the copy ``target`` fails where a rename would replace."""
    tmp = _new_file_beside(target)
    try:
        shutil.copyfile(source, tmp)
        os.link(tmp, target)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def replace_dir(source: Path, target: Path) -> None:
    """Move a finished folder to ``target``; an old ``target`` is removed only after the swap."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
        os.replace(target, old / target.name)
    os.replace(source, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staged_files(directory: Path) -> Iterator[Path]:
    """A hidden folder beside ``directory`` to write a set of files into; when the block ends
    they move into ``directory``, replacing files of the same names, and other files stay.

    If the block raises (a full disk, a failed write), ``directory`` is as it was: every file
    is written before the first is moved, and moving needs no space.
    """
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.staged-"))
    try:
        yield staging
        for path in sorted(staging.iterdir()):
            os.replace(path, directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _new_file_beside(path: Path) -> Path:
    """Create an empty, hidden, uniquely named file next to ``path``, as ``open`` would."""
    while True:
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")
        try:
            # Mode 0o666 here lets the kernel apply the umask (and any default ACL) as for open().
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
