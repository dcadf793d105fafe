"""From a store to batches: basin blocks in memory, valid-window indices, a DDP-safe sampler.

A sample is a window of ``lookback`` days of dynamic inputs ending on day t, the basin's static
attributes, and the targets on day t. A window is valid when none of its inputs is NaN and (for
training) at least one target on day t is observed; targets missing on t are masked per target.
Windows end inside their period; their inputs may reach back before the period start, never after t.

Memory stays bounded by a pool of basins per rank: each epoch walks a seeded permutation of the
basins (the same on every rank) in rounds; in each round every rank loads its own share of the
round's basins and draws random windows from them, so batches mix basins and every basin is seen
once per epoch. Every rank runs the same number of steps per round, so DDP never waits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.reader import StoreReader

TARGET_STD_EPS = 0.1
POOL_BASINS = 256  # basins held in memory at once per rank (training pool, validation, prediction)


@dataclass(frozen=True)
class DataSpec:
    """What a model reads: dynamic inputs, static attributes, targets and the window length."""

    dynamic: tuple[str, ...]
    static: tuple[str, ...]
    targets: tuple[str, ...]
    lookback: int


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
        bad = np.isnan(self.x).any(axis=-1)
        cum = np.concatenate([np.zeros((len(self.basins), 1), np.int64), bad.cumsum(axis=1)], 1)
        ends = np.arange(max(self.period_start, lookback - 1), len(self.time))
        clean = (cum[:, ends + 1] - cum[:, ends + 1 - lookback]) == 0
        if need_target:
            clean &= ~np.isnan(self.y[:, ends]).all(axis=-1)
        return [ends[row] for row in clean]


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
    names = [*spec.dynamic, *spec.targets]
    values = reader.read_dynamic(basins, names, times)
    k = len(spec.dynamic)
    x = norm.scale_dynamic(np.ascontiguousarray(values[..., :k]), spec.dynamic)
    y = norm.scale_target(np.ascontiguousarray(values[..., k:]), spec.targets)
    static = norm.scale_static(reader.read_static(basins, spec.static), spec.static)
    time = reader.time[times]
    return BasinBlock(
        basins=list(basins),
        time=time,
        x=x,
        static=static.astype(np.float32),
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


def count_windows(
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    spec: DataSpec,
    norm: Normalization,
) -> dict[str, int]:
    """Valid training windows per basin, in one streamed pass."""
    counts: dict[str, int] = {}
    for block, ends in iter_blocks(reader, basins, period, spec, norm, need_target=True):
        counts.update({basin: len(e) for basin, e in zip(block.basins, ends, strict=True)})
    return counts


class TrainSampler:
    """Batches for one rank: seeded per epoch, equal step counts on every rank."""

    def __init__(
        self,
        reader: StoreReader,
        counts: dict[str, int],
        period: Period,
        spec: DataSpec,
        norm: Normalization,
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        samples_per_epoch: int | None = None,
        pool_basins: int = POOL_BASINS,
    ) -> None:
        self.reader, self.period, self.spec, self.norm = reader, period, spec, norm
        self.basins = [b for b in reader.basins if counts.get(b, 0) > 0]
        self.counts = counts
        self.batch_size, self.seed = batch_size, seed
        self.rank, self.world_size = rank, world_size
        total = sum(counts[b] for b in self.basins)
        samples = samples_per_epoch or total
        self.steps_per_epoch = max(1, round(samples / (batch_size * world_size)))
        self.pool_basins = pool_basins

    def rounds(self, epoch: int) -> list[tuple[list[str], int]]:
        """This rank's basins and step count per round of ``epoch`` (same plan on all ranks)."""
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.basins))
        per_round = self.pool_basins * self.world_size
        total = sum(self.counts[b] for b in self.basins)
        plan, done, seen = [], 0, 0
        for first in range(0, len(order), per_round):
            members = [self.basins[i] for i in order[first : first + per_round]]
            seen += sum(self.counts[b] for b in members)
            steps = round(self.steps_per_epoch * seen / total) - done
            done += steps
            mine = members[self.rank :: self.world_size] or members
            plan.append((mine, steps))
        return plan

    def epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """Yield this rank's batches for ``epoch``; the next pool loads while this one trains."""
        plan = [(basins, steps) for basins, steps in self.rounds(epoch) if steps > 0]
        if not plan:
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(self._load, plan[0][0])
            for j, (_, steps) in enumerate(plan):
                block, ends, target_std = future.result()
                if j + 1 < len(plan):
                    future = pool.submit(self._load, plan[j + 1][0])
                rng = np.random.default_rng([self.seed, epoch, j, self.rank])
                yield from self._batches(block, ends, target_std, steps, rng)

    def _load(self, basins: list[str]):
        block = load_block(self.reader, basins, self.period, self.spec, self.norm)
        ends = block.window_ends(self.spec.lookback, need_target=True)
        return block, ends, block.target_std()

    def _batches(self, block, ends, target_std, steps, rng) -> Iterator[dict[str, torch.Tensor]]:
        sizes = np.array([len(e) for e in ends])
        flat_ends = np.concatenate(ends)
        flat_basin = np.repeat(np.arange(len(ends)), sizes)
        for _ in range(steps):
            pick = rng.integers(0, len(flat_ends), size=self.batch_size)
            batch = gather_windows(block, flat_basin[pick], flat_ends[pick], self.spec.lookback)
            batch["target_std"] = torch.from_numpy(target_std[flat_basin[pick]])
            yield batch
