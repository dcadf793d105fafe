"""A CPU training step: glibc's default malloc against the toolkit's settings, whole batches
against batches run in parts.

One process per core (as the Ray Train workers run), one torch thread each, the step in a
thread of its own (as Ray Train runs it): each process trains the toolkit's model
(``build_model``, forget-gate bias 3) through the toolkit's ``train_epoch`` on in-memory batches
of 256 windows x 365 days and reports windows/s, page faults per step and peak RSS above its
start. Per hidden size it prints the baseline (whole batches, glibc's default malloc), then the
whole batch and each part size under ``regional_lstm.allocator.ENVIRONMENT`` (the settings Ray
workers start with), each with its ratio to the baseline: what the allocator settings and
``regional_lstm.training.loop.CPU_MICRO_BATCH`` are chosen from.

    python benchmarks/cpu_step.py [--hidden 64 128 256 --parts 128 64 --repeats 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import threading
import time
from contextlib import contextmanager


def _peak_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measure(hidden: int, micro_batch: int | None, repeats: int, out) -> None:
    thread = threading.Thread(target=_step_in_thread, args=(hidden, micro_batch, repeats, out))
    thread.start()
    thread.join()


def _step_in_thread(hidden: int, micro_batch: int | None, repeats: int, out) -> None:
    import torch

    from regional_lstm.models import ModelSpec, build_model
    from regional_lstm.training.loop import train_epoch
    from regional_lstm.training.loss import nse_star

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    spec = ModelSpec(
        n_dynamic=6,
        n_static=10,
        hidden_size=hidden,
        num_layers=1,
        dropout=0.2,
        use_attention=False,
    )
    model = build_model(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    batches = [
        {
            "x_dynamic": torch.randn(256, 365, 6, generator=generator),
            "x_static": torch.randn(256, 10, generator=generator),
            "y": torch.randn(256, 1, generator=generator),
            "target_std": torch.ones(256, 1),
        }
        for _ in range(4)
    ]
    cpu, loss = torch.device("cpu"), nse_star([1.0])
    start = _peak_mb()
    train_epoch(model, batches[:1], optimizer, loss, 1.0, cpu, micro_batch=micro_batch)  # warm-up
    rates, faults = [], []
    for _ in range(repeats):
        began, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        train_epoch(model, batches, optimizer, loss, 1.0, cpu, micro_batch=micro_batch)
        rates.append(len(batches) * 256 / (time.perf_counter() - began))
        faults.append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / len(batches))
    out.put(
        json.dumps(
            {
                "rate": statistics.median(rates),
                "faults": statistics.median(faults),
                "peak": _peak_mb() - start,
            }
        )
    )


@contextmanager
def environment(values: dict[str, str]):
    """``values`` in the environment the spawned processes start with (glibc reads it then)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def measure(hidden: int, micro_batch: int | None, repeats: int, processes: int) -> dict:
    """Means over the concurrent processes of their median windows/s, page faults per step,
    and peak MB above their start."""
    context = mp.get_context("spawn")
    out = context.SimpleQueue()
    workers = [
        context.Process(target=_measure, args=(hidden, micro_batch, repeats, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [json.loads(out.get()) for _ in workers]
    for worker in workers:
        worker.join()
    return {key: statistics.mean(r[key] for r in results) for key in ("rate", "faults", "peak")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--parts", type=int, nargs="+", default=[128, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    from regional_lstm.allocator import ENVIRONMENT
    from regional_lstm.training.loop import CPU_MICRO_BATCH

    def line(label: str, result: dict, base: dict) -> str:
        return (
            f"  {label:<32} {result['rate']:6.0f} windows/s ({result['rate'] / base['rate']:.2f}x)"
            f"  {result['faults']:7.0f} page faults/step  peak +{result['peak']:.0f} MB"
            f" ({result['peak'] / base['peak']:.2f}x)"
        )

    print(f"{args.processes} processes x 1 thread, batches of 256 windows x 365 days")
    for hidden in args.hidden:
        print(f"hidden {hidden} (the toolkit's CPU parts: {CPU_MICRO_BATCH}):")
        base = measure(hidden, None, args.repeats, args.processes)
        print(line("whole, default malloc", base, base))
        with environment(ENVIRONMENT):
            print(
                line(
                    "whole, toolkit malloc",
                    measure(hidden, None, args.repeats, args.processes),
                    base,
                )
            )
            for part in args.parts:
                result = measure(hidden, part, args.repeats, args.processes)
                print(line(f"parts of {part}, toolkit malloc", result, base))


if __name__ == "__main__":
    main()
