"""Putting a finished store in place, atomically: a rename on disk, metadata-last on object storage.

Object storage has no rename. A store for a URL is built in a local temporary folder, as on
disk, and then uploaded: every chunk and every array's metadata first, the root ``zarr.json``
(which holds the consolidated metadata `open_store` reads) last. Until that one key exists,
`open_store` finds no store at the URL, so a failed or interrupted upload leaves nothing a
reader would accept. Replacing a store (``--overwrite``) deletes the old root metadata first,
so readers see the old store, then no store, then the new one, never a mix.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from regional_lstm.atomic import replace_dir
from regional_lstm.errors import StoreError
from regional_lstm.locations import ROOT_METADATA, Location

logger = logging.getLogger(__name__)


def check_target(target: Location, overwrite: bool) -> None:
    """Refuse to write over something unless ``overwrite``; say what is there."""
    if overwrite:
        return
    if target.has_store():
        raise StoreError(f"{target}: already exists (pass --overwrite to replace it)")
    if not target.is_empty():
        raise StoreError(
            f"{target}: holds files but no store (a failed write?); pass --overwrite to "
            "replace them"
        )


def publish(built: Path, target: Location, *, overwrite: bool) -> None:
    """Move or upload the finished store folder ``built`` to ``target`` (which `check_target`
    cleared before the build)."""
    if not target.remote:
        replace_dir(built, target.path)
        return
    fs, root = target.filesystem()
    root = root.rstrip("/")
    if not target.is_empty():
        if target.has_store():
            fs.rm_file(f"{root}/{ROOT_METADATA}")
        fs.rm(root, recursive=True)
    files = sorted(p for p in built.rglob("*") if p.is_file())
    body = [p for p in files if p != built / ROOT_METADATA]
    remote = [f"{root}/{p.relative_to(built).as_posix()}" for p in body]
    if body:
        fs.put([os.fspath(p) for p in body], remote)
    fs.put_file(os.fspath(built / ROOT_METADATA), f"{root}/{ROOT_METADATA}")
    fs.invalidate_cache()
    logger.debug("%s: uploaded %d files, root metadata last", target, len(files))
