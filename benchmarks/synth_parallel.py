"""`regional-lstm synth` with basins simulated in worker processes vs in one process.

Prints basins/s for each and the ratio (both cores vs one); the stores are checked identical.

    python benchmarks/synth_parallel.py [--basins 400 --years 40 --workers 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from regional_lstm.data.synth import synthesize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=400)
    parser.add_argument("--years", type=int, default=40)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    rates = {}
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for workers in (1, args.workers):
            start = time.perf_counter()
            synthesize(
                Path(tmp) / f"{workers}.zarr", basins=args.basins, years=args.years, workers=workers
            )
            rates[workers] = args.basins / (time.perf_counter() - start)
        one, many = (xr.open_zarr(Path(tmp) / f"{w}.zarr") for w in (1, args.workers))
        same = all(np.array_equal(one[v], many[v], equal_nan=True) for v in one.data_vars)
    print(f"{args.basins} basins x {args.years} years; stores identical: {same}")
    for workers, rate in rates.items():
        print(f"{workers} worker(s): {rate:.1f} basins/s")
    print(f"ratio {args.workers} workers / 1: {rates[args.workers] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
