"""The one store schema every source is ingested into: a Zarr v3 store of basin x time.

Layout (readable by plain ``xarray.open_zarr(path)``):
- dims ``basin`` (string ids) and ``time`` (daily, no gaps between the first and last date);
- dynamic variables ``(basin, time)`` float32, chunked ``BASIN_CHUNK`` basins x ``TIME_CHUNK``
  days, so a training tile (a group of basins over a few years) decompresses at most two chunks
  per variable instead of whole records, and a block of basins over a period is a few chunks;
- static attributes ``(basin,)``, float64 or strings, in one chunk each;
- ``units`` and ``long_name`` on every variable, provenance in the store attrs;
- store attr ``streamflow_area`` (`STREAMFLOW_AREA`): the static variable whose area converted
  streamflow between m3/s and mm/day, so m3/s computed with it are the source's; absent where
  the source's mm/day used an area the store does not hold (m3/s from ``area`` approximate).

Format: Zarr v3 with consolidated metadata (one metadata read when opening, which matters on
object stores); we open with ``consolidated=True`` explicitly.
"""

from __future__ import annotations

import functools
import io
import logging
import multiprocessing
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Protocol

import numpy as np
import pandas as pd
import xarray as xr
import zarr

from regional_lstm import __version__
from regional_lstm.basin_ids import check_basin_id, check_variable_name
from regional_lstm.data.damage import RESTORE
from regional_lstm.data.integrity import check_store
from regional_lstm.data.publish import check_target, publish
from regional_lstm.data.summary import SummaryWriter
from regional_lstm.errors import IngestError, StoreError
from regional_lstm.locations import Location, LocationError, location
from regional_lstm.progress import progress

logger = logging.getLogger(__name__)

ZARR_FORMAT = 3
BASIN_CHUNK = 16
TIME_CHUNK = 1461  # four years of days: chunks of ~93 KB, ~10 per basin group over 40 years
# Below this many basins, starting worker processes (each imports the toolkit) costs more than
# parsing or simulating the basins in this one.
PARALLEL_MIN_BASINS = 64
SCHEMA_VERSION = 1
TARGET_VARIABLES = ("streamflow", "swe")
STREAMFLOW_AREA = "streamflow_area"
CANONICAL = {
    "streamflow": ("mm/day", "observed streamflow (specific discharge)"),
    "swe": ("mm", "snow water equivalent"),
    "area": ("km2", "catchment area"),
}


@dataclass(frozen=True)
class Variable:
    """A variable's name in the store with its units and a human-readable long name."""

    name: str
    units: str
    long_name: str
    # Attributes only: per source table, the basins whose cell held no usable number (as
    # written, e.g. 'Inf'), stored as missing; kept as the array's ``unusable_values``.
    unusable_values: dict[str, dict[str, str]] | None = None


class BasinSource(Protocol):
    """What an ingest adapter offers the store writer: basins read one at a time."""

    kind: str
    source_path: Path
    basins: list[str]
    dynamic_variables: list[Variable]
    extra_attrs: dict[str, str]

    def read_basin(self, basin: str) -> pd.DataFrame:
        """Daily values of ``dynamic_variables`` (columns) on a sorted DatetimeIndex."""
        ...

    def read_attributes(self) -> tuple[pd.DataFrame, list[Variable]]:
        """Static attributes indexed by basin id (every basin in ``basins``)."""
        ...


@contextmanager
def _quiet_zarr() -> Iterator[None]:
    """Silence zarr's notice that consolidated metadata is not in the v3 spec: we chose it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        yield


def store_location(where: str | Path | Location) -> Location:
    """``where`` (a path, a URL or a Location) as a Location; an unusable URL is one line."""
    try:
        return location(where)
    except LocationError as error:
        raise StoreError(str(error)) from None


def local_path(path: str | Path | Location, what: str) -> Path:
    """A store that ``what`` (a command) can only rewrite on a local disk."""
    where = store_location(path)
    if where.remote:
        raise StoreError(f"{where}: {what} rewrites a store on a local disk, not object storage")
    return where.path


def open_store(path: str | Path | Location) -> xr.Dataset:
    """Open a store lazily, checking it has the schema this toolkit writes and that its files
    agree with its metadata (`check_store`: a deleted or edited file is one line, not NaN)."""
    path = store_location(path)
    if not path.has_store():
        raise StoreError(f"{path}: no Zarr store here (run 'regional-lstm ingest' or 'synth')")
    check_store(path)
    with _quiet_zarr():
        try:
            ds = xr.open_zarr(path.zarr_store(), consolidated=True)
        except (ValueError, KeyError, TypeError, OSError) as error:
            raise StoreError(f"{path}: its metadata cannot be read ({error}); {RESTORE}") from None
    missing = {"basin", "time"} - set(ds.dims)
    if missing:
        raise StoreError(f"{path}: not a regional-lstm store (no dimension {sorted(missing)[0]!r})")
    basins = [check_basin_id(str(b), str(path), StoreError) for b in ds["basin"].values]
    return ds.assign_coords(basin=np.array(basins, dtype=object))


def dynamic_names(ds: xr.Dataset) -> list[str]:
    """Names of the (basin, time) variables of a store."""
    return [str(n) for n, v in ds.data_vars.items() if v.dims == ("basin", "time")]


def static_names(ds: xr.Dataset) -> list[str]:
    """Names of the per-basin static attributes of a store."""
    return [str(n) for n, v in ds.data_vars.items() if v.dims == ("basin",)]


def write_store(
    source: BasinSource,
    out: str | Path | Location,
    *,
    overwrite: bool = False,
    workers: int | None = None,
) -> Path | Location:
    """Ingest every basin of ``source`` into a new store at ``out``, atomically; returns its
    path (a Location for a URL).

    The store is built in a hidden folder beside ``out`` (in a temporary folder for a URL) and
    renamed or uploaded into place only when complete (`publish`), so a crash never leaves a
    half-written store that `open_store` accepts at the target. Basins are
    parsed once, staged as float32 arrays on disk and written block by block, so memory
    stays bounded by one chunk of basins whatever the dataset size. ``workers`` processes
    (default: one per core) parse or simulate the basins when there are at least
    ``PARALLEL_MIN_BASINS``. A progress bar counts the basins on a terminal.
    """
    for basin in source.basins:  # ids from lists, file names or code: before any path is built
        check_basin_id(basin, _describe_path(source.source_path), IngestError)
    out = store_location(out)
    check_target(out, overwrite)
    if out.remote:
        work = Path(tempfile.mkdtemp(prefix=f"regional-lstm-{out.name}-"))
    else:
        out.path.parent.mkdir(parents=True, exist_ok=True)
        work = out.path.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
        work.mkdir()
    started = perf_counter()
    try:
        attributes, attribute_vars = source.read_attributes()
        _check_variable_names(source, attribute_vars)
        spans = _stage_basins(source, work / "staging", workers or len(os.sched_getaffinity(0)))
        dates = pd.date_range(min(s for s, _ in spans), max(e for _, e in spans), freq="D")
        target = work / "store.zarr"
        _write_template(source, attributes, attribute_vars, dates, target)
        _write_dynamic_blocks(source, spans, dates, work / "staging", target)
        publish(target, out, overwrite=overwrite)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds = perf_counter() - started
    logger.info(
        "%s: %d %s basins, %s..%s (%.1f basins/s)",
        out,
        len(source.basins),
        source.kind,
        *dates[[0, -1]].date,
        len(source.basins) / seconds,
    )
    return out if out.remote else out.path


def _check_variable_names(source: BasinSource, attribute_vars: list[Variable]) -> None:
    """Each variable names its own array folder: a safe name, not a coordinate, used once."""
    where = _describe_path(source.source_path)
    seen: set[str] = set()
    for var in (*source.dynamic_variables, *attribute_vars):
        check_variable_name(var.name, where, IngestError)
        if var.name in ("basin", "time"):
            raise IngestError(f"{where}: variable name {var.name!r} is a coordinate of the store")
        if var.name in seen:
            raise IngestError(f"{where}: variable name {var.name!r} comes twice")
        seen.add(var.name)


def _stage_basins(
    source: BasinSource, staging: Path, workers: int
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Read each basin once, check it, and stage its values as ``<i>.npy``; return date spans."""
    staging.mkdir()
    stage = functools.partial(_stage_basin, source, staging)
    jobs = list(enumerate(source.basins))
    spans = []
    pool = None
    if workers > 1 and len(jobs) >= PARALLEL_MIN_BASINS:
        # fork: a worker needs only the source and numpy, and a forked one neither re-imports
        # the caller's script (as spawn would, without a __main__ guard) nor pays start-up
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    with progress(len(jobs), f"ingest {source.kind}") as advance, pool or nullcontext():
        for basin, span in pool.map(stage, jobs, chunksize=8) if pool else map(stage, jobs):
            spans.append(span)
            advance(item=basin)
    if not spans:
        raise StoreError(f"{source.source_path}: no basins to ingest")
    return spans


def _stage_basin(
    source: BasinSource, staging: Path, job: tuple[int, str]
) -> tuple[str, tuple[pd.Timestamp, pd.Timestamp]]:
    """One basin read, checked and staged as ``<i>.npy`` (in a worker process or this one)."""
    i, basin = job
    names = [v.name for v in source.dynamic_variables]
    frame = source.read_basin(basin)
    _check_basin_frame(frame, names, basin)
    full = pd.date_range(frame.index[0], frame.index[-1], freq="D")
    staged = io.BytesIO()  # numpy's own file write reports a full disk without its errno
    np.save(staged, frame.reindex(full)[names].to_numpy(dtype=np.float32))
    (staging / f"{i}.npy").write_bytes(staged.getbuffer())
    return basin, (full[0], full[-1])


def _check_basin_frame(frame: pd.DataFrame, names: Sequence[str], basin: str) -> None:
    """Guard the adapter contract: daily, sorted, unique dates and the declared columns."""
    if frame.empty:
        raise StoreError(f"basin {basin}: no daily records")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise StoreError(f"basin {basin}: adapter produced no column {missing[0]!r}")
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex) or not index.is_monotonic_increasing:
        raise StoreError(f"basin {basin}: dates are not sorted")
    if index.has_duplicates or (index != index.normalize()).any():
        raise StoreError(f"basin {basin}: dates are not unique daily dates")


def _variable_attrs(var: Variable) -> dict[str, object]:
    attrs: dict[str, object] = {"units": var.units, "long_name": var.long_name}
    if var.unusable_values:
        attrs["unusable_values"] = var.unusable_values
    return attrs


def _write_template(
    source: BasinSource,
    attributes: pd.DataFrame,
    attribute_vars: list[Variable],
    time: pd.DatetimeIndex,
    target: Path,
) -> None:
    """Write coordinates, static attributes and empty dynamic arrays (metadata only)."""
    import dask.array as da

    basins = np.array(source.basins, dtype=object)
    shape = (len(basins), len(time))
    chunks = (min(BASIN_CHUNK, len(basins)), min(TIME_CHUNK, len(time)))
    data_vars: dict[str, xr.Variable] = {}
    encoding: dict[str, dict] = {}
    for var in source.dynamic_variables:
        lazy = da.full(shape, np.nan, dtype=np.float32, chunks=chunks)
        data_vars[var.name] = xr.Variable(("basin", "time"), lazy, _variable_attrs(var))
        encoding[var.name] = {"chunks": chunks}
    for var in attribute_vars:
        column = attributes.loc[list(basins), var.name]
        values = column.to_numpy(dtype=object if column.dtype == object else np.float64)
        if values.dtype == object:
            values = np.array(["" if pd.isna(v) else str(v) for v in values], dtype=object)
        data_vars[var.name] = xr.Variable(("basin",), values, _variable_attrs(var))
    ds = xr.Dataset(data_vars, coords={"basin": basins, "time": time})
    ds["basin"].attrs = {"long_name": "basin (gauge) identifier"}
    ds["time"].attrs = {"long_name": "date (daily values)"}
    ds.attrs = _provenance(source)
    encoding["time"] = {"units": "days since 1970-01-01", "dtype": "int32"}
    with _quiet_zarr():
        ds.to_zarr(
            target,
            mode="w",
            zarr_format=ZARR_FORMAT,
            consolidated=True,
            compute=False,
            encoding=encoding,
        )


def _provenance(source: BasinSource) -> dict[str, str | int]:
    return {
        "title": f"regional-lstm store ingested from {source.kind}",
        "source_kind": source.kind,
        "source_path": _describe_path(source.source_path),
        "ingest_time": datetime.now(UTC).isoformat(timespec="seconds"),
        "regional_lstm_version": __version__,
        "store_schema_version": SCHEMA_VERSION,
        **source.extra_attrs,
    }


def _describe_path(path: Path) -> str:
    """An absolute path for real folders; a placeholder such as '<synthetic>' as it is."""
    text = str(path)
    return text if text.startswith("<") else str(Path(path).absolute())


def _write_dynamic_blocks(
    source: BasinSource,
    spans: list[tuple[pd.Timestamp, pd.Timestamp]],
    time: pd.DatetimeIndex,
    staging: Path,
    target: Path,
) -> None:
    """Fill the dynamic arrays one chunk of basins at a time from the staged arrays, and the
    store's summary from the same blocks."""
    names = [v.name for v in source.dynamic_variables]
    n_basins = len(source.basins)
    summary = SummaryWriter(target, names, time, n_basins)
    for first in range(0, n_basins, BASIN_CHUNK):
        last = min(first + BASIN_CHUNK, n_basins)
        block = np.full((last - first, len(time), len(names)), np.nan, dtype=np.float32)
        for i in range(first, last):
            offset = (spans[i][0] - time[0]).days
            values = np.load(staging / f"{i}.npy")
            block[i - first, offset : offset + len(values)] = values
        ds = xr.Dataset({n: (("basin", "time"), block[..., k]) for k, n in enumerate(names)})
        # Region writes change no metadata, so the template's consolidated metadata stays valid.
        ds.to_zarr(
            target, region={"basin": slice(first, last), "time": slice(None)}, consolidated=False
        )
        summary.add(first, block)
    summary.close()
    with _quiet_zarr():
        zarr.consolidate_metadata(target)  # the template's, with the summary group added
