"""How fast training windows can be read from a store, three ways; how fast a store is made.

Synthesizes a store (``--basins`` x ``--years``, timed: ingest seconds and basins/s), then
draws ``--reads`` random (basin, window) pairs, each ``--lookback`` days of the dynamic inputs
plus the streamflow target, and serves them as a (variables, lookback) array by:

(a) xarray: ``open_store(path)`` then ``ds[var].isel(basin=b, time=window).values`` per read,
    which builds and runs a small dask graph per variable and read (the baseline);
(b) zarr: ``zarr.open_group(path, mode="r")`` then ``array[b, t0:t1]`` per variable and read,
    which still decompresses a whole chunk (BASIN_CHUNK basins x the full record) per call;
(c) block cache: read each chunk of BASIN_CHUNK basins once (every variable, full record,
    with the training workers' ``StoreReader.read_dynamic``) and serve that block's windows
    from memory, as workers do with their pool of loaded basin blocks. The same pairs are
    served grouped by block; block loads are timed.

(a) and (b) serve only the first ``--slow-reads`` pairs (they take tens of ms per read);
(c) serves all ``--reads``. Prints reads/s for each (median of ``--repeats``) and its ratio
to (a). Not a test:
``python benchmarks/store_reads.py --workdir /tmp/bench``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr

from regional_lstm.data.reader import StoreReader
from regional_lstm.data.store import BASIN_CHUNK, open_store
from regional_lstm.data.synth import synthesize

WINDOW_VARIABLES = ["prcp", "tmin", "tmax", "srad", "pet", "dayl", "streamflow"]
Reader = Callable[[np.ndarray, np.ndarray], None]


def main() -> None:
    args = _parser().parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="store-reads-"))
    store = workdir / f"synthetic-{args.basins}x{args.years}.zarr"

    started = time.perf_counter()
    synthesize(store, basins=args.basins, years=args.years, seed=args.seed, overwrite=True)
    ingest_s = time.perf_counter() - started
    size_mb = sum(f.stat().st_size for f in store.rglob("*") if f.is_file()) / 1e6
    print(f"store {store} ({size_mb:.0f} MB on disk)")
    print(f"ingest: {ingest_s:.1f} s, {args.basins / ingest_s:.1f} basins/s")

    n_days = open_store(store).sizes["time"]
    rng = np.random.default_rng(args.seed)
    basins = rng.integers(0, args.basins, args.reads)
    starts = rng.integers(0, n_days - args.lookback + 1, args.reads)
    slow = min(args.slow_reads, args.reads)
    readers = {
        "(a) xarray isel per read": (_xarray_reader(store, args.lookback), slow),
        "(b) zarr slice per read": (_zarr_reader(store, args.lookback), slow),
        "(c) basin-block cache": (_block_cache_reader(store, args.lookback), args.reads),
    }
    print(
        f"windows of {args.lookback} days x {len(WINDOW_VARIABLES)} variables, "
        f"median of {args.repeats} repeats"
    )
    baseline = None
    for name, (reader, reads) in readers.items():
        rate = _reads_per_second(reader, basins[:reads], starts[:reads], args.repeats)
        baseline = baseline or rate
        print(f"{name:26s} {reads:6d} reads {rate:10.1f} reads/s {rate / baseline:8.1f} x (a)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=500)
    parser.add_argument("--years", type=int, default=30)
    parser.add_argument("--lookback", type=int, default=365, help="window length in days")
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument(
        "--slow-reads", type=int, default=200, help="how many of the reads (a) and (b) serve"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where to write the store (default: a new temp dir)")
    return parser


def _reads_per_second(
    reader: Reader, basins: np.ndarray, starts: np.ndarray, repeats: int
) -> float:
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        reader(basins, starts)
        rates.append(len(basins) / (time.perf_counter() - started))
    return statistics.median(rates)


def _xarray_reader(store: Path, lookback: int) -> Reader:
    ds = open_store(store)

    def read(basins: np.ndarray, starts: np.ndarray) -> None:
        for basin, start in zip(basins.tolist(), starts.tolist(), strict=True):
            window = {"basin": basin, "time": slice(start, start + lookback)}
            np.stack([ds[name].isel(window).values for name in WINDOW_VARIABLES])

    return read


def _zarr_reader(store: Path, lookback: int) -> Reader:
    group = zarr.open_group(store, mode="r")
    arrays = [group[name] for name in WINDOW_VARIABLES]

    def read(basins: np.ndarray, starts: np.ndarray) -> None:
        for basin, start in zip(basins.tolist(), starts.tolist(), strict=True):
            np.stack([array[basin, start : start + lookback] for array in arrays])

    return read


def _block_cache_reader(store: Path, lookback: int) -> Reader:
    reader = StoreReader(store)
    record = slice(0, len(reader.time))

    def read(basins: np.ndarray, starts: np.ndarray) -> None:
        blocks = basins // BASIN_CHUNK
        for block in np.unique(blocks).tolist():
            first = block * BASIN_CHUNK
            ids = reader.basins[first : first + BASIN_CHUNK]
            loaded = reader.read_dynamic(ids, WINDOW_VARIABLES, record)
            mine = blocks == block
            for basin, start in zip(basins[mine].tolist(), starts[mine].tolist(), strict=True):
                loaded[basin - first, start : start + lookback].T.copy()

    return read


if __name__ == "__main__":
    main()
