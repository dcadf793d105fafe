"""A store's files checked against its metadata, so damage is one line and never passes as NaN.

Zarr reads an absent chunk, and an absent array its consolidated metadata still lists, as the
fill value: NaN for our variables, indistinguishable from missing data. `write_store` leaves out
only chunks in which every value is missing (zarr writes no chunk that is all fill value), and
the store's summary records which days those are. So, when a local store is opened:

- every array the consolidated metadata lists must exist, and its own ``zarr.json`` agree with
  the consolidated copy (shape, data type, chunks, codecs, fill value, dimensions);
- every array's dimensions must have the lengths of the ``basin`` and ``time`` coordinates, and
  a (basin, time) variable must be floating point;
- the coordinates must have every chunk file;
- a (basin, time) variable may lack a chunk file only where its summary records every day of
  that chunk as missing; a store without a summary cannot tell, so a warning names the chunks.

Stores on object storage get the metadata checks only (listing every chunk would be a request
per folder); their damaged chunks are caught when read (`damage.read_error`).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from regional_lstm.data.damage import RESTORE, read_error
from regional_lstm.data.summary import GROUP
from regional_lstm.errors import StoreError
from regional_lstm.locations import ROOT_METADATA, Location, location

logger = logging.getLogger(__name__)

AGREE = (
    "shape",
    "data_type",
    "chunk_grid",
    "chunk_key_encoding",
    "codecs",
    "fill_value",
    "dimension_names",
)
COORDINATES = ("basin", "time")


def check_store(path: Location) -> None:
    """Fail in one line naming the store and variable if its files disagree with its metadata."""
    arrays = consolidated_arrays(path)
    check_dimensions(path, arrays)
    if not path.remote:
        root = Path(path.path)
        stamp = (root / ROOT_METADATA).stat()
        _check_files(str(root), stamp.st_mtime_ns, stamp.st_size)


def consolidated_arrays(path: Location) -> dict[str, dict[str, Any]]:
    """The arrays of the store's consolidated metadata, by name (``summary/x`` for nested)."""
    raw = path.read_bytes(ROOT_METADATA)
    try:
        metadata = json.loads(raw or b"")["consolidated_metadata"]["metadata"]
    except (ValueError, KeyError, TypeError):
        raise StoreError(
            f"{path}: its root metadata ({ROOT_METADATA}) are damaged or not consolidated; "
            f"{RESTORE}"
        ) from None
    if not isinstance(metadata, dict):
        raise StoreError(f"{path}: its consolidated metadata are damaged; {RESTORE}")
    return {
        name: entry
        for name, entry in metadata.items()
        if isinstance(entry, dict) and entry.get("node_type") == "array"
    }


def check_dimensions(path: Location, arrays: dict[str, dict[str, Any]]) -> None:
    """Every variable's dimensions have the coordinates' lengths; (basin, time) ones are floats."""
    sizes = {}
    for name in (c for c in COORDINATES if c in arrays):  # none: not a store of ours (open_store)
        shape = arrays[name].get("shape")
        if not (isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], int)):
            raise StoreError(f"{path}: the metadata of coordinate {name!r} are missing or damaged")
        sizes[name] = shape[0]
    for name, entry in arrays.items():
        if "/" in name:
            continue
        dims, shape = entry.get("dimension_names") or [], entry.get("shape") or []
        if len(dims) != len(shape):
            raise StoreError(f"{path}: variable {name!r} has {len(shape)} lengths for dims {dims}")
        for dim, length in zip(dims, shape, strict=True):
            if dim in sizes and length != sizes[dim]:
                raise StoreError(
                    f"{path}: variable {name!r} has {dim} length {length} in its metadata, the "
                    f"store has {sizes[dim]}; {RESTORE}"
                )
        if tuple(dims) == COORDINATES and entry.get("data_type") not in ("float32", "float64"):
            raise StoreError(
                f"{path}: variable {name!r} is stored as {entry.get('data_type')}, not as "
                f"floats; {RESTORE}"
            )


@functools.lru_cache(maxsize=16)
def _check_files(root: str, mtime_ns: int, size: int) -> None:
    """The file checks of a local store, once per version of its root metadata."""
    path = Path(root)
    arrays = consolidated_arrays(location(root))
    for name, entry in arrays.items():
        if "/" in name:
            continue  # the summary: `open_summary` checks it against the store, and ignores it
        own = _array_metadata(path, name)
        for key in AGREE:
            if own.get(key) != entry.get(key):
                raise StoreError(
                    f"{path}: variable {name!r}: its {name}/zarr.json gives {key} "
                    f"{own.get(key)}, the store's consolidated metadata {entry.get(key)}; {RESTORE}"
                )
        absent = _absent_chunks(path / name, entry)
        if not absent:
            continue
        if name in COORDINATES:
            raise StoreError(
                f"{path}: variable {name!r}: chunk file {name}/{absent[0]} is missing; {RESTORE}"
            )
        if tuple(entry.get("dimension_names") or ()) == COORDINATES:
            _check_absent_are_missing(path, name, entry, absent)


def _array_metadata(path: Path, name: str) -> dict[str, Any]:
    file = path / name / ROOT_METADATA
    if not file.is_file():
        raise StoreError(
            f"{path}: variable {name!r} is listed in the store's metadata but its array "
            f"({name}/{ROOT_METADATA}) is missing; {RESTORE}"
        )
    try:
        return json.loads(file.read_bytes())
    except ValueError:
        raise StoreError(f"{path}: variable {name!r}: {name}/zarr.json is damaged") from None


def _absent_chunks(folder: Path, entry: dict[str, Any]) -> list[str]:
    """Keys (``c/i/j``) of the chunks of a regular grid with no file, in grid order."""
    grid = entry.get("chunk_grid", {}).get("configuration", {}).get("chunk_shape")
    encoding = entry.get("chunk_key_encoding", {})
    if not grid or encoding.get("configuration", {}).get("separator", "/") != "/":
        return []  # not a layout `write_store` writes: nothing to compare with
    counts = [math.ceil(n / c) for n, c in zip(entry["shape"], grid, strict=True)]
    present = set(_chunk_files(folder / "c", ""))
    expected = ("c/" + "/".join(map(str, index)) for index in np.ndindex(*counts))
    return [key for key in expected if key not in present]


def _chunk_files(folder: Path, prefix: str) -> Iterator[str]:
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for item in entries:
        if item.is_dir():
            yield from _chunk_files(Path(item.path), f"{prefix}{item.name}/")
        else:
            yield f"c/{prefix}{item.name}"


def _check_absent_are_missing(
    path: Path, name: str, entry: dict[str, Any], absent: list[str]
) -> None:
    """An absent chunk of a (basin, time) variable must be one its summary records as missing."""
    n_basins, n_days = entry["shape"]
    try:
        summary = zarr.open_group(location(path).zarr_store(), path=GROUP, mode="r")
        attrs = dict(summary.attrs)
        if (attrs.get("basins"), attrs.get("days")) != (n_basins, n_days):
            raise KeyError(name)  # a summary of another record (`open_summary` ignores it too)
        bits = summary[f"{name}_missing"]
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError):
        logger.warning(
            "%s: %s has %d chunk file(s) absent (%s/%s first), read as missing values; the store "
            "has no summary to confirm that every value there is missing",
            path,
            name,
            len(absent),
            name,
            absent[0],
        )
        return
    basin_chunk, time_chunk = entry["chunk_grid"]["configuration"]["chunk_shape"]
    for key in absent:
        i, j = (int(part) for part in key.split("/")[1:])
        rows = slice(i * basin_chunk, min((i + 1) * basin_chunk, n_basins))
        first, stop = j * time_chunk, min((j + 1) * time_chunk, n_days)
        try:
            packed = bits[rows, first // 8 : math.ceil(stop / 8)]
        except Exception as error:  # each codec raises its own: a damaged chunk
            raise read_error(path, bits, error) from None
        missing = np.unpackbits(packed, axis=1).view(bool)[:, first % 8 : first % 8 + stop - first]
        if not missing.all():
            raise StoreError(
                f"{path}: variable {name!r}: chunk file {name}/{key} is missing, yet the store's "
                f"summary records values there (basin positions {rows.start}-{rows.stop - 1}, "
                f"day positions {first}-{stop - 1}); {RESTORE}"
            )
