"""From a store to windows: standardised basin blocks in memory and their valid window ends.

A sample is a window of ``lookback`` days of dynamic inputs ending on day t, the basin's static
attributes, and the targets on day t (or on its last N days: ``last_n``). A window is valid
when none of its inputs is NaN and (for training) at least one supervised target is observed;
missing targets are masked per target. Windows end inside their period; their inputs may reach
back before the period start, never after t. Training batches come from ``pool``.

With lagged streamflow (``DataSpec.lags``, Nearing et al. 2022) each day's inputs end with, per
lag L, the standardised streamflow observed L days before and a flag that is 1 where that
reading is missing (its value then 0): a gap in the readings never spoils a window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.reader import StoreReader

TARGET_STD_EPS = 0.1
LAGGED = "streamflow"  # the target whose past readings lagged inputs carry
POOL_BASINS = 256  # basins held in memory at once per rank in validation and prediction


@dataclass(frozen=True)
class DataSpec:
    """What a model reads: dynamic inputs, static attributes, targets and the window length."""

    dynamic: tuple[str, ...]
    static: tuple[str, ...]
    targets: tuple[str, ...]
    lookback: int
    lags: tuple[int, ...] = ()  # days back of the streamflow readings fed as inputs
    withhold_lags: bool = False  # predict as if no reading were available (ungauged)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The names of the model's dynamic input channels, in the order it takes them."""
        lagged = [(f"{LAGGED}_lag{lag}", f"{LAGGED}_lag{lag}_missing") for lag in self.lags]
        return (*self.dynamic, *(name for pair in lagged for name in pair))


@dataclass
class BasinBlock:
    """Standardised data of some basins over one period plus the lookback before it."""

    basins: list[str]
    time: pd.DatetimeIndex
    x: np.ndarray  # (basin, time, dynamic) float32, standardised
    static: np.ndarray  # (basin, attribute) float32, standardised
    y: np.ndarray  # (basin, time, target) float32, standardised, NaN where unobserved
    period_start: int  # position in ``time`` of the period's first day

    def target_std(self) -> np.ndarray:
        """Per-basin std of each standardised target within the period (for the NSE* loss)."""
        with np.errstate(invalid="ignore"):
            std = np.nanstd(self.y[:, self.period_start :], axis=1)
        return np.nan_to_num(std, nan=1.0).astype(np.float32)

    def window_ends(self, lookback: int, need_target: bool) -> list[np.ndarray]:
        """Per basin, positions t where the window [t - lookback + 1, t] is usable."""
        ends = np.arange(max(self.period_start, lookback - 1), len(self.time))
        return usable_ends(self.x, self.y if need_target else None, ends, lookback)


def usable_ends(
    x: np.ndarray, y: np.ndarray | None, ends: np.ndarray, lookback: int, last_n: int = 1
) -> list[np.ndarray]:
    """Per basin (rows of ``x``), the ``ends`` whose ``lookback`` input days are all present
    and, given targets ``y``, with at least one target observed in the last ``last_n`` days."""
    return [ends[row] for row in usable_mask(x, y, ends, lookback, last_n)]


def usable_mask(
    x: np.ndarray, y: np.ndarray | None, ends: np.ndarray, lookback: int, last_n: int = 1
) -> np.ndarray:
    """(basin, end) booleans of `usable_ends`; ``ends`` ascending and consecutive."""
    bad = ~np.isfinite(x).all(axis=-1)  # a missing (or infinite) input spoils its day
    seen = None if y is None else np.isfinite(y).any(axis=-1)
    return usable_from_flags(bad, seen, ends, lookback, last_n)


def usable_from_flags(
    bad: np.ndarray, seen: np.ndarray | None, ends: np.ndarray, lookback: int, last_n: int = 1
) -> np.ndarray:
    """`usable_mask` from (basin, time) flags: days with an input missing, days with a target
    observed (None: targets not needed). The store summary's bitmasks give these directly."""
    first, stop = int(ends[0]) + 1, int(ends[-1]) + 2 if len(ends) else int(ends[0]) + 1
    clean = _window_sums(bad, first, stop, lookback) == 0
    if seen is not None:
        clean &= _window_sums(seen, first, stop, last_n) > 0
    return clean


def _window_sums(flags: np.ndarray, first: int, stop: int, width: int) -> np.ndarray:
    """Per row, how many of ``flags[t - width + 1 .. t]`` are set, for t + 1 in [first, stop)."""
    cum = np.zeros((len(flags), flags.shape[1] + 1), np.int32)
    np.cumsum(flags, axis=1, out=cum[:, 1:])
    return cum[:, first:stop] - cum[:, first - width : stop - width]


def read_span(
    reader: StoreReader,
    basins: Sequence[str],
    times: slice,
    spec: DataSpec,
    norm: Normalization,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standardised inputs (basin, time, `DataSpec.inputs`), targets (basin, time, target) and
    attributes (basin, attribute) of ``basins`` over store positions ``times``, as float32."""
    lead = max(spec.lags, default=0)  # lagged readings reach back before the span
    # Targets a store lacks are missing (prediction); training checks that it has them.
    values = read_back(reader, basins, [*spec.dynamic, *spec.targets], times, lead)
    k = len(spec.dynamic)
    x = norm.scale_dynamic(np.ascontiguousarray(values[:, lead:, :k]), spec.dynamic)
    y = norm.scale_target(np.ascontiguousarray(values[..., k:]), spec.targets)
    if spec.lags:
        readings = y[..., spec.targets.index(LAGGED)]
        x = np.concatenate([x, lagged_channels(readings, spec.lags, spec.withhold_lags)], axis=-1)
    static = norm.scale_static(reader.read_static(basins, spec.static), spec.static)
    return x, np.ascontiguousarray(y[:, lead:]), static.astype(np.float32)


def read_back(
    reader: StoreReader, basins: Sequence[str], names: Sequence[str], times: slice, lead: int
) -> np.ndarray:
    """``names`` of ``basins`` over store positions ``times`` and the ``lead`` days before,
    (basin, lead + time, name); NaN where absent, or before the record's first day."""
    first = times.start - lead
    values = reader.read_optional(basins, list(names), slice(max(first, 0), times.stop))
    if first < 0:
        values = np.pad(values, ((0, 0), (-first, 0), (0, 0)), constant_values=np.nan)
    return values


def lagged_channels(readings: np.ndarray, lags: Sequence[int], withhold: bool) -> np.ndarray:
    """(basin, time, 2 per lag) float32: per lag L, the reading L days before and its missing
    flag, from standardised ``readings`` (basin, max(lags) + time) that start max(lags) days
    before the first day. ``withhold`` marks every reading missing."""
    lead = max(lags)
    days = readings.shape[1] - lead
    channels = np.empty((len(readings), days, 2 * len(lags)), np.float32)
    for k, lag in enumerate(lags):
        value = readings[:, lead - lag : lead - lag + days]
        missing = np.ones_like(value, bool) if withhold else ~np.isfinite(value)
        channels[..., 2 * k] = np.where(missing, 0.0, value)
        channels[..., 2 * k + 1] = missing
    return channels


def hide_readings(batch_x: np.ndarray, spec: DataSpec, hidden: np.ndarray) -> None:
    """Mark every lagged reading of the windows ``hidden`` (batch booleans) missing, in place:
    training on such windows teaches the model to predict without readings."""
    first = len(spec.dynamic)
    batch_x[hidden, :, first::2] = 0.0
    batch_x[hidden, :, first + 1 :: 2] = 1.0


def load_block(
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    spec: DataSpec,
    norm: Normalization,
) -> BasinBlock:
    """Read and standardise ``basins`` over ``period`` and the ``lookback - 1`` days before it."""
    start = period.start - pd.Timedelta(days=spec.lookback - 1)
    times = reader.time_slice(start, period.end)
    x, y, static = read_span(reader, basins, times, spec, norm)
    time = reader.time[times]
    return BasinBlock(
        basins=list(basins),
        time=time,
        x=x,
        static=static,
        y=y,
        period_start=int(time.searchsorted(period.start)),
    )


def gather_windows(block: BasinBlock, basin_idx: np.ndarray, ends: np.ndarray, lookback: int):
    """A batch dict of tensors for the windows ending at ``ends`` of basins ``basin_idx``."""
    steps = ends[:, None] + np.arange(1 - lookback, 1)[None, :]
    return {
        "x_dynamic": torch.from_numpy(block.x[basin_idx[:, None], steps]),
        "x_static": torch.from_numpy(block.static[basin_idx]),
        "y": torch.from_numpy(block.y[basin_idx, ends]),
    }


def iter_blocks(
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    spec: DataSpec,
    norm: Normalization,
    *,
    need_target: bool,
) -> Iterator[tuple[BasinBlock, list[np.ndarray]]]:
    """``basins`` in blocks of ``POOL_BASINS``, each with its valid window ends (memory: one block).

    ``need_target`` keeps only windows ending on an observed target (training and validation);
    without it every window with gap-free inputs counts (prediction).
    """
    for first in range(0, len(basins), POOL_BASINS):
        block = load_block(reader, basins[first : first + POOL_BASINS], period, spec, norm)
        yield block, block.window_ends(spec.lookback, need_target)
