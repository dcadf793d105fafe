"""Rewrite a store in the current chunking (``BASIN_CHUNK`` basins x ``TIME_CHUNK`` days).

Stores written before tiles were read in time chunks hold each group of 8 basins' whole record
in one chunk. They stay readable as they are, but every training tile then decompresses whole
records; ``regional-lstm rechunk STORE`` rewrites one (atomically, beside it) in bounded memory:
one group of basins' record per dask task.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path

import xarray as xr

from regional_lstm.atomic import replace_dir
from regional_lstm.data.store import (
    BASIN_CHUNK,
    TIME_CHUNK,
    ZARR_FORMAT,
    _quiet_zarr,
    dynamic_names,
    local_path,
    open_store,
)
from regional_lstm.errors import StoreError

logger = logging.getLogger(__name__)


def store_chunks(ds: xr.Dataset) -> tuple[int, int]:
    """The chunk shape that ``write_store`` gives a store of this size today."""
    return min(BASIN_CHUNK, ds.sizes["basin"]), min(TIME_CHUNK, ds.sizes["time"])


def rechunk_store(path: str | Path, out: str | Path | None = None) -> Path:
    """Rewrite the store at ``path`` (in place, or as a new store ``out``) in today's chunks."""
    path = local_path(path).absolute()
    target = local_path(out).absolute() if out is not None else path
    if out is not None and target.exists():
        raise StoreError(f"{target}: already exists (choose another --out)")
    ds = open_store(path)
    names = dynamic_names(ds)
    chunks = store_chunks(ds)
    current = {tuple(ds[n].encoding.get("chunks", ())) for n in names}
    if current == {chunks} and out is None:
        logger.info("%s: already in chunks of %d basins x %d days", path, *chunks)
        return path
    lazy = ds.chunk({"basin": chunks[0], "time": -1})
    for name, variable in lazy.variables.items():
        variable.encoding.pop("preferred_chunks", None)
        variable.encoding.pop("chunks", None)
        if name in names:
            variable.encoding["chunks"] = chunks
    work = target.parent / f".{target.name}.rechunk-{uuid.uuid4().hex[:8]}"
    try:
        with _quiet_zarr():
            lazy.to_zarr(work, mode="w", zarr_format=ZARR_FORMAT, consolidated=True)
        replace_dir(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("%s: rewritten in chunks of %d basins x %d days", target, *chunks)
    return target
