"""Yearly summaries kept inside a store, so planning reads megabytes instead of the record.

Planning needs each variable's moments over the calibration period (normalisation), each
basin's target spread over the training period (the NSE* loss) and which days are missing
(valid windows). A store keeps, in its ``summary`` group, per variable: per basin and calendar
year the count, sum and sum of squares of the finite values (float64), and per basin a bitmask
of its missing days. Whole years come from the sums; only a period's part-years at either end
are read from the values. `write_store` and `rechunk` write it; `regional-lstm summarize
STORE` adds it to a store written before it existed, which otherwise plans by reading all.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from regional_lstm.data.damage import read_error
from regional_lstm.errors import StoreError
from regional_lstm.locations import Location, location

logger = logging.getLogger(__name__)

GROUP = "summary"
VERSION = 1
# Basins per summary chunk: at 40 years, 1 MB of sums and 1.8 MB of bitmask per variable, so a
# planning pass over 20,000 basins opens 20 chunks per array, not 1,250.
SUMMARY_BASINS = 1024  # 64 of the store's 16-basin chunks
STATISTICS = ("count", "sum", "sum_of_squares")


def year_bounds(time: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """The calendar years the record touches and each one's first position (then the end)."""
    years = np.asarray(time.year)
    starts = np.flatnonzero(np.r_[True, years[1:] != years[:-1]]) if len(years) else np.zeros(0)
    return years[starts.astype(int)], np.r_[starts, len(time)].astype(np.int64)


def summarize_block(values: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of (basin, time, variable) values: moments (variable, basin, year, statistic) and the
    missing days (not finite) packed 8 to a byte, (variable, basin, byte)."""
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0).astype(np.float64)
    starts = bounds[:-1]
    moments = np.stack(
        [
            np.add.reduceat(finite, starts, axis=1, dtype=np.float64),
            np.add.reduceat(filled, starts, axis=1),
            np.add.reduceat(filled * filled, starts, axis=1),
        ],
        axis=-1,
    )
    missing = np.packbits(~finite, axis=1)
    return moments.transpose(2, 0, 1, 3), missing.transpose(2, 0, 1)


class SummaryWriter:
    """The summary arrays of a store being written, filled block by block in basin order.

    Blocks are buffered up to a summary chunk, so each chunk is written once; memory is one
    chunk's worth (~20 MB for 40 years of 7 variables).
    """

    def __init__(
        self,
        store: Path | Location,
        names: Sequence[str],
        time: pd.DatetimeIndex,
        n_basins: int,
    ) -> None:
        self.years, self.bounds = year_bounds(time)
        self.names, self.n_basins = list(names), n_basins
        root = zarr.open_group(location(store).zarr_store(read_only=False), mode="a")
        group = root.require_group(GROUP)
        group.attrs.update(identity(time, n_basins, names))
        rows = min(SUMMARY_BASINS, max(n_basins, 1))
        n_bytes = math.ceil(len(time) / 8)
        self.moments = [
            group.create_array(
                f"{name}_moments",
                shape=(n_basins, len(self.years), len(STATISTICS)),
                chunks=(rows, len(self.years), len(STATISTICS)),
                dtype="float64",
                fill_value=np.nan,
                overwrite=True,
            )
            for name in self.names
        ]
        self.missing = [
            group.create_array(
                f"{name}_missing",
                shape=(n_basins, n_bytes),
                chunks=(rows, n_bytes),
                dtype="uint8",
                fill_value=255,
                overwrite=True,
            )
            for name in self.names
        ]
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._first = self._next = 0  # first basin buffered, next basin expected

    def add(self, first: int, values: np.ndarray) -> None:
        """The block of basins ``first, first + 1, ...`` (basin, time, variable), in order."""
        self.add_summarized(first, summarize_block(values, self.bounds))

    def add_summarized(self, first: int, summary: tuple[np.ndarray, np.ndarray]) -> None:
        """A block already passed through `summarize_block` (e.g. in a reading thread)."""
        if first != self._next:
            raise ValueError(f"summary blocks out of order: basin {first}, expected {self._next}")
        self._pending.append(summary)
        self._next += summary[0].shape[1]
        if self._next >= self._chunk_end():
            self._flush()

    def close(self) -> None:
        """Write what is buffered."""
        self._flush()

    def _chunk_end(self) -> int:
        return min((self._first // SUMMARY_BASINS + 1) * SUMMARY_BASINS, self.n_basins)

    def _flush(self) -> None:
        if not self._pending:
            return
        moments = np.concatenate([m for m, _ in self._pending], axis=1)
        missing = np.concatenate([b for _, b in self._pending], axis=1)
        rows = slice(self._first, self._first + moments.shape[1])
        for k in range(len(self.names)):
            self.moments[k][rows] = moments[k]
            self.missing[k][rows] = missing[k]
        self._first, self._pending = rows.stop, []


def identity(time: pd.DatetimeIndex, n_basins: int, names: Sequence[str]) -> dict:
    """What a summary must agree on with its store to be used."""
    return {
        "summary_version": VERSION,
        "first_day": f"{time[0]:%Y-%m-%d}" if len(time) else "",
        "days": len(time),
        "basins": n_basins,
        "variables": list(names),
    }


@dataclass
class StoreSummary:
    """Read access to a store's summary: positions are store positions of basins."""

    group: zarr.Group
    years: np.ndarray
    bounds: np.ndarray
    path: Path | Location

    def moments(self, name: str, rows: np.ndarray | slice) -> np.ndarray:
        """(basin, year, statistic) float64 of ``rows``.

        Never NaN as written (a year without values counts 0): NaN is the fill value of a chunk
        file that has gone, and would make NaN statistics.
        """
        values = self._read(f"{name}_moments", (rows,))
        if np.isnan(values).any():
            raise StoreError(
                f"{self.path}: the summary of {name!r} is damaged (a chunk file of "
                f"{GROUP}/{name}_moments is missing); run 'regional-lstm summarize {self.path}'"
            )
        return values

    def missing(self, name: str, rows: np.ndarray | slice, times: slice) -> np.ndarray:
        """(basin, time) booleans, True where ``name`` is missing, at store positions ``times``."""
        first, stop = times.start // 8, math.ceil(times.stop / 8)
        packed = self._read(f"{name}_missing", (rows, slice(first, stop)))
        bits = np.unpackbits(packed, axis=1).view(bool)
        return bits[:, times.start - 8 * first : times.stop - 8 * first]

    def whole_years(self, times: slice) -> tuple[slice, list[slice]]:
        """For store positions ``times``: the summary's years that lie wholly inside them, and
        the part-years (position spans) at either end that must be read instead."""
        starts, ends = self.bounds[:-1], self.bounds[1:]
        inside = np.flatnonzero((starts >= times.start) & (ends <= times.stop))
        if not len(inside):
            return slice(0, 0), [times] if times.stop > times.start else []
        first, last = int(inside[0]), int(inside[-1]) + 1
        edges = [slice(times.start, int(starts[first])), slice(int(ends[last - 1]), times.stop)]
        return slice(first, last), [e for e in edges if e.stop > e.start]

    def _read(self, array_name: str, selection: tuple) -> np.ndarray:
        """An orthogonal selection of a summary array; a damaged chunk is one line."""
        array = self.group[array_name]
        try:
            return array.oindex[selection]
        except Exception as error:  # each codec raises its own: a damaged chunk
            raise read_error(self.path, array, error) from None


def open_summary(
    path: Path | Location, time: pd.DatetimeIndex, n_basins: int, names: Sequence[str]
) -> StoreSummary | None:
    """The store's summary if it has one that matches it and covers ``names``; else None."""
    try:
        group = zarr.open_group(location(path).zarr_store(), path=GROUP, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError):
        return None
    expected = identity(time, n_basins, names)
    attrs = dict(group.attrs)
    same = all(attrs.get(k) == expected[k] for k in ("summary_version", "first_day", "days"))
    if not same or attrs.get("basins") != n_basins or not set(names) <= set(attrs["variables"]):
        logger.warning(
            "%s: its summary does not match the store (run 'regional-lstm summarize %s'); "
            "planning reads every value",
            path,
            path,
        )
        return None
    years, bounds = year_bounds(time)
    return StoreSummary(group, years, bounds, path)
