"""Per-basin window statistics for a training plan, in one streamed pass spread over cores.

Planning needs, per training basin, how many valid windows it has (basins with none are left
out; the total sets the epoch's length) and the spread of its standardised targets over the
training period, which the NSE* loss divides by (a tile of a few years would give another).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from regional_lstm.config_periods import Period
from regional_lstm.data.blockmap import map_blocks, reader_for
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec, load_block, usable_ends


@dataclass(frozen=True)
class WindowStatistics:
    """Per basin: valid training windows and the standardised targets' std over the period."""

    counts: dict[str, int]
    target_std: dict[str, tuple[float, ...]]


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
    """Count each basin's training windows (ends in ``period`` supervising ``last_n`` days
    inside it) and the std of its standardised targets there, in one streamed pass."""
    job = functools.partial(_block_statistics, str(reader.path), period, spec, norm, last_n)
    counts: dict[str, int] = {}
    target_std: dict[str, tuple[float, ...]] = {}
    for block_counts, block_std in map_blocks(job, basins, workers):
        counts.update(block_counts)
        target_std.update(block_std)
    return WindowStatistics(counts, target_std)


def _block_statistics(
    path: str,
    period: Period,
    spec: DataSpec,
    norm: Normalization,
    last_n: int,
    basins: list[str],
) -> tuple[dict[str, int], dict[str, tuple[float, ...]]]:
    block = load_block(reader_for(path), basins, period, spec, norm)
    first = max(block.period_start + last_n - 1, spec.lookback - 1)
    ends = np.arange(first, len(block.time))
    valid = usable_ends(block.x, block.y, ends, spec.lookback, last_n)
    std = block.target_std()
    return (
        {b: len(e) for b, e in zip(block.basins, valid, strict=True)},
        {b: tuple(float(v) for v in row) for b, row in zip(block.basins, std, strict=True)},
    )
