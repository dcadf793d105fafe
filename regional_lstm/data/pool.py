"""Training batches from a resident pool of tiles, so memory and reads do not grow with basins.

A *tile* is a group of up to ``basin_chunk`` training basins (consecutive in the store) over one
span of window ends aligned to the store's time chunks, with the lookback before it: loading
one decompresses at most two chunks per variable and holds only the days its windows use.

Each rank holds ``pool_tiles`` tiles. Every batch draws its windows uniformly from all valid
windows in the pool; then the ``refresh`` oldest tiles make way for the next ones of a seeded
walk over every tile (a new permutation each pass, the same on all ranks, each rank taking its
share), loaded in a background thread while the model trains. So the bytes held are the pool's,
whatever the store's size, and each batch reads ``refresh`` tiles, whatever the number of
basins. When a rank's share fits in the pool it is loaded once and stays resident.

Every rank runs the same number of steps per epoch, so DDP never waits; the pool at the start
of epoch ``e`` depends only on the seed and ``e``, so a resumed run draws the same batches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec, hide_readings, read_span, usable_ends
from regional_lstm.errors import StoreError

logger = logging.getLogger(__name__)

POOL_TILES = 128  # tiles held per rank: 16 basins x (lookback + 4 years) each, ~1 MB
# Tiles replaced after each batch: ~128 windows drawn per tile loaded, each tile in the pool for
# 64 batches. The loads share the worker's core with its training step; at 4 per batch a
# 20,000-basin store trained at 0.75x the speed of a resident 50-basin one once CPU steps got
# 2x faster (benchmarks/scale.py), at 2 per batch at 0.88x.
REFRESH_TILES = 2
DEFAULT_SPAN = 1461  # days of window ends per tile when the store is chunked by whole records


@dataclass(frozen=True)
class Tile:
    """Basins ``group`` (indices into the sampler's groups), window ends in [first, last]."""

    group: int
    first: int  # store time position of the first window end
    last: int  # ... and of the last (inclusive)


class TrainSampler:
    """Batches for one rank from a pool of tiles: seeded, equal step counts on every rank."""

    def __init__(
        self,
        reader: StoreReader,
        counts: dict[str, int],
        period: Period,
        spec: DataSpec,
        norm: Normalization,
        *,
        target_std: dict[str, tuple[float, ...]],
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        samples_per_epoch: int | None = None,
        pool_tiles: int = POOL_TILES,
        refresh: int = REFRESH_TILES,
        last_n: int = 1,
        lag_dropout: float = 0.0,
    ) -> None:
        self.reader, self.spec, self.norm = reader, spec, norm
        self.lag_dropout = lag_dropout  # fraction of windows whose lagged readings are hidden
        self.batch_size, self.seed, self.last_n = batch_size, seed, last_n
        basins = [b for b in reader.basins if counts.get(b, 0) > 0]
        group = max(1, reader.basin_chunk)
        self.groups = [basins[i : i + group] for i in range(0, len(basins), group)]
        self.span = reader.time_chunk if reader.time_chunk < len(reader.time) else DEFAULT_SPAN
        self.tiles = _tiles(reader, period, spec.lookback, last_n, self.span, len(self.groups))
        total = sum(counts[b] for b in basins)
        samples = samples_per_epoch or total
        self.steps_per_epoch = max(1, round(samples / (batch_size * world_size)))
        order = np.random.default_rng([seed, 0]).permutation(len(self.tiles))
        self._rank, self._world = rank, world_size if len(self.tiles) >= world_size else 1
        share = len(order[self._rank % self._world :: self._world])
        self.resident = share <= pool_tiles
        self.refresh = 0 if self.resident else min(refresh, pool_tiles)
        self.slots = share if self.resident else pool_tiles
        self._share = share
        self._target_std = target_std
        self._allocate(group)
        self._position: int | None = None  # global step the pool is ready for
        self._walk: tuple[int, np.ndarray] = (-1, np.empty(0, np.int64))  # this rank's share
        self.tiles_loaded = 0
        self.bytes_read = 0

    # -- layout -------------------------------------------------------------------------------

    def _allocate(self, group: int) -> None:
        days = self.spec.lookback - 1 + self.span
        n_in, n_out = len(self.spec.inputs), len(self.spec.targets)
        self._x = np.full((self.slots, group, days, n_in), np.nan, np.float32)
        self._y = np.full((self.slots, group, days, n_out), np.nan, np.float32)
        self._static = np.zeros((self.slots, group, len(self.spec.static)), np.float32)
        self._std = np.ones((self.slots, group, n_out), np.float32)
        self._valid = np.zeros((self.slots, group * self.span), np.int32)
        self._count = np.zeros(self.slots, np.int64)

    @property
    def held_bytes(self) -> int:
        """Bytes of tile data this sampler keeps in memory (fixed at construction)."""
        arrays = (self._x, self._y, self._static, self._std, self._valid, self._count)
        return sum(a.nbytes for a in arrays)

    def sequence(self, i: int) -> Tile:
        """The ``i``-th tile of this rank's walk: pass ``i // share``, a fresh permutation each."""
        walk, offset = divmod(i, self._share)
        if self.resident:
            walk = 0
        if self._walk[0] != walk:
            order = np.random.default_rng([self.seed, walk]).permutation(len(self.tiles))
            self._walk = (walk, order[self._rank % self._world :: self._world])
        return self.tiles[int(self._walk[1][offset])]

    # -- loading ------------------------------------------------------------------------------

    def _load(self, tile: Tile):
        """A tile's standardised arrays and its valid windows (flat ``row * span + offset``)."""
        basins = self.groups[tile.group]
        lookback = self.spec.lookback
        times = slice(tile.first - lookback + 1, tile.last + 1)
        x, y, static = read_span(self.reader, basins, times, self.spec, self.norm)
        self.bytes_read += x.nbytes + y.nbytes
        ends = np.arange(lookback - 1, x.shape[1])
        flat = [
            row * self.span + (e - (lookback - 1))
            for row, e in enumerate(usable_ends(x, y, ends, lookback, self.last_n))
        ]
        std = np.array([self._target_std[b] for b in basins], np.float32)
        return x, y, static, std, np.concatenate(flat).astype(np.int32)

    def _place(self, slot: int, loaded) -> None:
        x, y, static, std, valid = loaded
        b, d = x.shape[:2]
        self._x[slot] = np.nan
        self._y[slot] = np.nan
        self._x[slot, :b, :d], self._y[slot, :b, :d] = x, y
        self._static[slot, :b], self._std[slot, :b] = static, std
        self._valid[slot, : len(valid)] = valid
        self._count[slot] = len(valid)
        self.tiles_loaded += 1

    def _fill(self, step: int) -> None:
        """Make the pool what it is before global ``step``: slots of walk positions in order."""
        first = step * self.refresh
        for i in range(first, first + self.slots):
            self._place(i % self.slots, self._load(self.sequence(i)))
        self._position = step

    # -- batches ------------------------------------------------------------------------------

    def epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """Yield this rank's batches for ``epoch``; the next tiles load while a batch trains."""
        step = epoch * self.steps_per_epoch
        if self._position != (0 if self.resident else step):
            self._fill(0 if self.resident else step)
        rng = np.random.default_rng([self.seed, epoch, self._rank])
        with ThreadPoolExecutor(max_workers=1) as loader:
            for s in range(step, step + self.steps_per_epoch):
                future = loader.submit(self._next_tiles, s) if self.refresh else None
                yield self._draw(rng)
                if future is not None:
                    for slot, loaded in future.result():
                        self._place(slot, loaded)
                    self._position = s + 1

    def _next_tiles(self, step: int):
        """Tiles that replace the oldest ``refresh`` slots after ``step``."""
        first = step * self.refresh + self.slots
        walk = range(first, first + self.refresh)
        return [(i % self.slots, self._load(self.sequence(i))) for i in walk]

    def _draw(self, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        lookback, n = self.spec.lookback, self.batch_size
        windows = self._count.sum()
        if windows == 0:
            raise StoreError(
                f"{self.reader.path}: the {self.slots} tiles of rank {self._rank} hold no valid "
                "training window (inputs gap-free over the lookback and an observed target)"
            )
        slot = rng.choice(self.slots, size=n, p=self._count / windows)
        pick = (rng.random(n) * self._count[slot]).astype(np.int64)
        row, offset = np.divmod(self._valid[slot, pick], self.span)
        end = offset + (lookback - 1)
        steps = end[:, None] + np.arange(1 - lookback, 1)
        if self.last_n == 1:
            y = self._y[slot, row, end]
        else:
            days = end[:, None] + np.arange(1 - self.last_n, 1)
            y = self._y[slot[:, None], row[:, None], days]
        x = self._x[slot[:, None], row[:, None], steps]
        if self.spec.lags and self.lag_dropout:
            hide_readings(x, self.spec, rng.random(n) < self.lag_dropout)
        return {
            "x_dynamic": torch.from_numpy(x),
            "x_static": torch.from_numpy(self._static[slot, row]),
            "y": torch.from_numpy(np.ascontiguousarray(y)),
            "target_std": torch.from_numpy(self._std[slot, row]),
        }


def _tiles(
    reader: StoreReader, period: Period, lookback: int, last_n: int, span: int, groups: int
) -> list[Tile]:
    """Every (group, span) with window ends inside ``period``, spans aligned to store chunks."""
    first = max(int(reader.time.searchsorted(period.start)) + last_n - 1, lookback - 1)
    last = int(reader.time.searchsorted(period.end, side="right")) - 1
    spans = [
        (max(k * span, first), min((k + 1) * span - 1, last))
        for k in range(first // span, last // span + 1)
    ]
    return [Tile(g, a, b) for g in range(groups) for a, b in spans if a <= b]
