"""Store upkeep: rewrite a store in the current chunking, or add the summary planning reads.

``rechunk``: the current chunking is ``BASIN_CHUNK`` basins x ``TIME_CHUNK`` days.

Stores written before tiles were read in time chunks hold each group of 8 basins' whole record
in one chunk. They stay readable as they are, but every training tile then decompresses whole
records; ``regional-lstm rechunk STORE`` rewrites one (atomically, beside it) in bounded memory:
one group of basins' record per dask task. ``summarize`` (`write_summary`) adds the yearly summary
(`regional_lstm.data.summary`) to a store written before stores had one.
"""

from __future__ import annotations

import functools
import logging
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from regional_lstm.atomic import replace_dir
from regional_lstm.data.blockmap import map_blocks, reader_for
from regional_lstm.data.store import (
    BASIN_CHUNK,
    TIME_CHUNK,
    ZARR_FORMAT,
    _quiet_zarr,
    dynamic_names,
    local_path,
    open_store,
)
from regional_lstm.data.summary import (
    SUMMARY_BASINS,
    SummaryWriter,
    open_summary,
    summarize_block,
    year_bounds,
)
from regional_lstm.errors import StoreError
from regional_lstm.locations import Location, location
from regional_lstm.progress import progress

logger = logging.getLogger(__name__)


def store_chunks(ds: xr.Dataset) -> tuple[int, int]:
    """The chunk shape that ``write_store`` gives a store of this size today."""
    return min(BASIN_CHUNK, ds.sizes["basin"]), min(TIME_CHUNK, ds.sizes["time"])


def rechunk_store(path: str | Path, out: str | Path | None = None) -> Path:
    """Rewrite the store at ``path`` (in place, or as a new store ``out``) in today's chunks."""
    path = local_path(path, "rechunk")
    target = local_path(out, "rechunk") if out is not None else path
    if out is not None and target.exists():
        raise StoreError(f"{target}: already exists (choose another --out)")
    ds = open_store(path)
    names = dynamic_names(ds)
    chunks = store_chunks(ds)
    current = {tuple(ds[n].encoding.get("chunks", ())) for n in names}
    if current == {chunks} and out is None:
        logger.info("%s: already in chunks of %d basins x %d days", path, *chunks)
        if open_summary(path, ds["time"].to_index(), ds.sizes["basin"], names) is None:
            write_summary(path)
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
        write_summary(work)
        replace_dir(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("%s: rewritten in chunks of %d basins x %d days", target, *chunks)
    return target


def write_summary(path: str | Path, workers: int | None = None) -> Path:
    """Write (or rewrite) the summary of an existing store from its values, in place.

    Memory: one summary chunk of basins' sums, and a block of basins' record per thread.
    """
    path = local_path(path, "summarize")
    ds = open_store(path)
    names = dynamic_names(ds)
    time = ds["time"].to_index()
    basins = [str(b) for b in ds["basin"].values]
    writer = SummaryWriter(path, names, time, len(basins))
    job = functools.partial(_summarize, location(path), names, time)
    with progress(len(basins), f"summarize {path.name}") as advance:
        for first in range(0, len(basins), SUMMARY_BASINS):
            offset = first
            for summary in map_blocks(job, basins[first : first + SUMMARY_BASINS], workers):
                writer.add_summarized(offset, summary)
                offset += summary[0].shape[1]
                advance(summary[0].shape[1])
    writer.close()
    with _quiet_zarr():
        zarr.consolidate_metadata(path)
    reader_for.cache_clear()  # a cached reader of this store predates its summary
    logger.info("%s: summary of %d basins x %d days written", path, len(basins), len(time))
    return path


def _summarize(
    path: Location, names: list[str], time: pd.DatetimeIndex, basins: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    values = reader_for(path).read_dynamic(basins, names, slice(0, len(time)))
    return summarize_block(values, year_bounds(time)[1])
