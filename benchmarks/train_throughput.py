"""Training throughput of our data path + model vs the same model fed tensors already in memory.

Both sides run the same model, optimizer, loss and batch shapes in one process with one thread
(as a Ray worker does). "pipeline" draws each epoch's batches with ``TrainSampler`` from a Zarr
store (tile loads from disk, standardisation, window gathering, prefetch thread); "in-memory"
replays batches that were materialised beforehand. Repeats alternate the two to share the
machine's noise; the script prints samples/s medians and the ratio (target: the pipeline costs
under 10 %, i.e. ratio >= 0.90).

    python benchmarks/train_throughput.py [--basins 40 --years 12 --repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import fit_normalization
from regional_lstm.data.pool import TrainSampler
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec
from regional_lstm.data.scan import window_statistics
from regional_lstm.data.synth import synthesize
from regional_lstm.models import ModelSpec, build_model
from regional_lstm.training.loss import nse_star

DYNAMIC = ("prcp", "tmin", "tmax", "srad", "pet", "dayl")
STATIC = ("area", "elev_mean", "aridity", "frac_forest", "soil_depth", "gauge_lat")


def step(model, optimizer, loss_fn, batch) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(batch)["y_hat"], batch["y"], batch["target_std"])
    loss.backward()
    optimizer.step()


def timed_epoch(model, optimizer, loss_fn, batches) -> tuple[float, int]:
    start, samples = time.perf_counter(), 0
    for batch in batches:
        step(model, optimizer, loss_fn, batch)
        samples += len(batch["y"])
    return time.perf_counter() - start, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=40)
    parser.add_argument("--years", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lookback", type=int, default=365)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=24, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rl-bench-"))
    store = synthesize(
        workdir / "store.zarr", basins=args.basins, years=args.years, seed=0, overwrite=True
    )
    reader = StoreReader(store)
    first_year = reader.time[0].year
    period = Period.parse([first_year + 1, first_year + args.years - 1])
    spec = DataSpec(DYNAMIC, STATIC, ("streamflow",), args.lookback)
    norm = fit_normalization(
        reader, reader.basins, period.start, period.end, DYNAMIC, STATIC, ("streamflow",)
    )
    windows = window_statistics(reader, reader.basins, period, spec, norm)
    # A small pool so every batch really loads tiles from the store while training runs.
    sampler = TrainSampler(
        reader,
        windows.counts,
        period,
        spec,
        norm,
        target_std=windows.target_std,
        batch_size=args.batch,
        seed=0,
        samples_per_epoch=args.steps * args.batch,
        pool_tiles=8,
    )
    torch.manual_seed(0)
    model = build_model(
        ModelSpec(
            n_dynamic=len(DYNAMIC),
            n_static=len(STATIC),
            hidden_size=args.hidden,
            num_layers=1,
            dropout=0.0,
            use_attention=False,
        )
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nse_star([1.0])
    in_memory = list(sampler.epoch(10_000))
    timed_epoch(model, optimizer, loss_fn, in_memory[:2])  # warm-up

    pipeline_rates, memory_rates = [], []
    for repeat in range(args.repeats):
        seconds, samples = timed_epoch(model, optimizer, loss_fn, sampler.epoch(repeat))
        pipeline_rates.append(samples / seconds)
        seconds, samples = timed_epoch(model, optimizer, loss_fn, in_memory)
        memory_rates.append(samples / seconds)
        print(
            f"repeat {repeat + 1}: pipeline {pipeline_rates[-1]:7.0f} samples/s   "
            f"in-memory {memory_rates[-1]:7.0f} samples/s"
        )
    pipeline, memory = statistics.median(pipeline_rates), statistics.median(memory_rates)
    print(
        f"store: {args.basins} basins x {args.years} years, lookback {args.lookback}, "
        f"hidden {args.hidden}, batch {args.batch}, 1 thread"
    )
    print(f"median samples/s: pipeline {pipeline:.0f}, in-memory {memory:.0f}")
    print(
        f"ratio pipeline / in-memory: {pipeline / memory:.3f} "
        f"(pipeline overhead {100 * (1 - pipeline / memory):.1f} %)"
    )


if __name__ == "__main__":
    main()
