"""What planning reads from a store: normalisation moments and per-basin window statistics.

Planning needs the mean and spread of every variable over the calibration period, and per
training basin how many valid windows it has (basins with none are left out; the total sets the
epoch's length) and the spread of its targets over the training period, which the NSE* loss
divides by (a tile of a few years would give another). All of it comes from one streamed read
of each block of basins, spread over threads (``blockmap``); window validity needs only the
missing-value pattern, and a standardised spread is the raw one over the target's std, so
nothing has to wait for the normalisation. A store with a summary (``summary``) gives the
moments of whole years and the missing days without reading the values: only part-years at a
period's ends are read, so 20,000 basins plan in seconds.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from regional_lstm.config_periods import Period
from regional_lstm.data.blockmap import block_moments, map_blocks, reader_for
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec, usable_from_flags, usable_mask
from regional_lstm.data.summary import (
    SUMMARY_BASINS,
    StoreSummary,
    open_summary,
    summarize_block,
)
from regional_lstm.locations import Location

Moments = tuple[np.ndarray, np.ndarray, np.ndarray]
FLAG_BASINS = 128  # basins whose daily flags are unpacked at once: ~2 MB per 40 years


@dataclass(frozen=True)
class WindowStatistics:
    """Per basin: valid training windows and the standardised targets' std over the period."""

    counts: dict[str, int]
    target_std: dict[str, tuple[float, ...]]


@dataclass(frozen=True)
class Scan:
    """One pass's results: moments of inputs then targets over the calibration period (if
    asked), and per basin its window count and raw target std over the training period."""

    moments: Moments | None
    counts: dict[str, int]
    raw_std: dict[str, np.ndarray]

    def windows(self, norm: Normalization, targets: Sequence[str]) -> WindowStatistics:
        """The window statistics with spreads in the standardised units the loss sees."""
        scale = np.array([norm.target_std[t] for t in targets])
        spread = {
            b: tuple(float(v) for v in np.nan_to_num(raw / scale, nan=1.0))
            for b, raw in self.raw_std.items()
        }
        return WindowStatistics(self.counts, spread)


def scan_store(
    reader: StoreReader,
    basins: Sequence[str],
    train: Period,
    spec: DataSpec,
    *,
    calibration: Period | None = None,
    last_n: int = 1,
    workers: int | None = None,
) -> Scan:
    """Count each basin's windows ending in ``train`` (supervising ``last_n`` days inside it),
    its targets' std there, and, given ``calibration``, every variable's moments over it."""
    names = [*spec.dynamic, *spec.targets]
    summary = open_summary(reader.path, reader.time, len(reader.basins), names)
    if summary is not None:
        return _scan_summary(reader, summary, basins, train, spec, calibration, last_n, workers)
    lookback = pd.Timedelta(days=spec.lookback - 1)
    first, last = train.start - lookback, train.end
    if calibration is not None:
        first, last = min(first, calibration.start), max(last, calibration.end)
    times = reader.time_slice(first, last)
    time = reader.time[times]

    def span(start: pd.Timestamp, end: pd.Timestamp) -> tuple[int, int]:
        return int(time.searchsorted(start)), int(time.searchsorted(end, side="right"))

    spans = {"train": span(train.start - lookback, train.end)}
    if calibration is not None:
        spans["calibration"] = span(calibration.start, calibration.end)
    start = int(time.searchsorted(train.start)) - spans["train"][0]  # train.start in its span
    job = functools.partial(
        _block_scan, reader.path, (times.start, times.stop), spans, start, spec, last_n
    )
    return _merged(map_blocks(job, basins, workers))


def _merged(blocks) -> Scan:
    """One `Scan` from the blocks' (moments or None, counts, raw spreads), moments summed."""
    total = None
    counts: dict[str, int] = {}
    raw_std: dict[str, np.ndarray] = {}
    for block_moments_, block_counts, block_std in blocks:
        if block_moments_ is not None:
            total = block_moments_ if total is None else tuple(map(np.add, total, block_moments_))
        counts.update(block_counts)
        raw_std.update(block_std)
    return Scan(total, counts, raw_std)


def window_statistics(
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    spec: DataSpec,
    norm: Normalization,
    *,
    last_n: int = 1,
    workers: int | None = None,
) -> WindowStatistics:
    """Window counts and standardised target spreads of ``basins`` in ``period`` for ``norm``."""
    scan = scan_store(reader, basins, period, spec, last_n=last_n, workers=workers)
    return scan.windows(norm, spec.targets)


def basins_without_windows(
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    spec: DataSpec,
    workers: int | None = None,
) -> list[str]:
    """The ``basins`` with no window of ``spec.lookback`` gap-free input days ending in
    ``period``: nothing of theirs can be predicted there (from the summary's missing-day flags
    where the store has one, else from one read of the inputs)."""
    span = reader.time_slice(period.start - pd.Timedelta(days=spec.lookback - 1), period.end)
    first_end = reader.time_slice(period.start, period.end).start - span.start
    ends = np.arange(max(first_end, spec.lookback - 1), span.stop - span.start)
    if not len(ends):
        return list(basins)
    summary = open_summary(reader.path, reader.time, len(reader.basins), list(spec.dynamic))

    def job(block: list[str]) -> list[str]:
        if summary is None:
            bad = ~np.isfinite(reader_for(reader.path).read_dynamic(block, spec.dynamic, span))
            bad = bad.any(axis=-1)
        else:
            rows = reader.positions(block)
            bad = np.zeros((len(block), span.stop - span.start), dtype=bool)
            for name in spec.dynamic:
                bad |= summary.missing(name, rows, span)
        usable = usable_from_flags(bad, None, ends, spec.lookback).any(axis=1)
        return [basin for basin, ok in zip(block, usable, strict=True) if not ok]

    return [basin for found in map_blocks(job, basins, workers, FLAG_BASINS) for basin in found]


def _block_scan(
    path: Location,
    times: tuple[int, int],
    spans: dict[str, tuple[int, int]],
    start: int,
    spec: DataSpec,
    last_n: int,
    basins: list[str],
) -> tuple[Moments | None, dict[str, int], dict[str, np.ndarray]]:
    names = [*spec.dynamic, *spec.targets]
    values = reader_for(path).read_dynamic(basins, names, slice(*times))
    sums = None
    if "calibration" in spans:
        sums = block_moments(values[:, slice(*spans["calibration"])])
    train = values[:, slice(*spans["train"])]
    k = len(spec.dynamic)
    x, y = train[..., :k], train[..., k:]
    ends = np.arange(max(start + last_n - 1, spec.lookback - 1), train.shape[1])
    valid = usable_mask(x, y, ends, spec.lookback, last_n).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no observed target: NaN, then 1
        std = np.nanstd(y[:, start:].astype(np.float64), axis=1)
    return (
        sums,
        {b: int(n) for b, n in zip(basins, valid, strict=True)},
        dict(zip(basins, std, strict=True)),
    )


def _scan_summary(
    reader: StoreReader,
    summary: StoreSummary,
    basins: Sequence[str],
    train: Period,
    spec: DataSpec,
    calibration: Period | None,
    last_n: int,
    workers: int | None,
) -> Scan:
    """`scan_store` from the store's summary: the same numbers, the values barely read."""
    span = reader.time_slice(train.start - pd.Timedelta(days=spec.lookback - 1), train.end)
    train_days = reader.time_slice(train.start, train.end)
    start = train_days.start - span.start  # train.start in the window span
    ends = np.arange(max(start + last_n - 1, spec.lookback - 1), span.stop - span.start)
    jobs = {
        "calibration": reader.time_slice(calibration.start, calibration.end)
        if calibration is not None
        else None,
        "train": train_days,
    }
    order = np.argsort(reader.positions(basins), kind="stable")
    ordered = [basins[i] for i in order]  # store order: a block touches one or two chunks
    job = functools.partial(_summary_block, reader, summary, spec, span, ends, last_n, jobs)
    scan = _merged(map_blocks(job, ordered, workers, block=SUMMARY_BASINS))
    # In the caller's basin order, as the full scan gives them.
    return Scan(
        scan.moments,
        {b: scan.counts[b] for b in basins},
        {b: scan.raw_std[b] for b in basins},
    )


def _summary_block(
    reader: StoreReader,
    summary: StoreSummary,
    spec: DataSpec,
    span: slice,
    ends: np.ndarray,
    last_n: int,
    periods: dict[str, slice | None],
    basins: list[str],
) -> tuple[Moments | None, dict[str, int], dict[str, np.ndarray]]:
    rows = reader.positions(basins)
    names = [*spec.dynamic, *spec.targets]
    sums = None
    if periods["calibration"] is not None:
        moments = _period_moments(reader, summary, rows, basins, names, periods["calibration"])
        count, total, squares = moments.sum(axis=0).T  # over basins: (statistic, variable)
        sums = (total, squares, count)
    valid = np.zeros(len(basins), dtype=np.int64)
    for first in range(0, len(basins), FLAG_BASINS):  # unpacked flags of a few basins at a time
        part = rows[first : first + FLAG_BASINS]
        bad = np.zeros((len(part), span.stop - span.start), dtype=bool)
        for name in spec.dynamic:
            bad |= summary.missing(name, part, span)
        seen = np.zeros_like(bad)
        for name in spec.targets:
            seen |= ~summary.missing(name, part, span)
        valid[first : first + len(part)] = usable_from_flags(
            bad, seen, ends, spec.lookback, last_n
        ).sum(axis=1)
    target = _period_moments(reader, summary, rows, basins, list(spec.targets), periods["train"])
    count, total, squares = np.moveaxis(target, -1, 0)  # (basin, target) each
    with np.errstate(invalid="ignore", divide="ignore"):  # no observed target: NaN, then 1
        mean = total / count
        std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return (
        sums,
        {b: int(n) for b, n in zip(basins, valid, strict=True)},
        dict(zip(basins, std, strict=True)),
    )


def _period_moments(
    reader: StoreReader,
    summary: StoreSummary,
    rows: np.ndarray,
    basins: list[str],
    names: list[str],
    days: slice,
) -> np.ndarray:
    """(basin, variable, statistic) count, sum and sum of squares over store positions ``days``:
    whole years from the summary, the part-years at either end read from the values."""
    years, edges = summary.whole_years(days)
    out = np.stack([summary.moments(name, rows)[:, years].sum(axis=1) for name in names], axis=1)
    for edge in edges:  # the part-year as one "year": (variable, basin, 1, statistic)
        values = reader.read_dynamic(basins, names, edge)
        moments, _ = summarize_block(values, np.array([0, edge.stop - edge.start]))
        out += moments[:, :, 0].transpose(1, 0, 2)
    return out
