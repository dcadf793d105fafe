"""Training windows/s of every model kind against the LSTM, in one run.

Two processes with one torch thread each (as the 2 Ray Train workers train), each training the
toolkit's model (``build_model``) through the toolkit's ``train_epoch`` on in-memory batches of
256 windows x 365 days whose last 30 days are supervised (the shipped CAMELS-US setting), the
LSTM with hidden size 64, the conceptual models with 16 parameter sets and a parameter network
of 64. Prints per kind the median windows/s over ``--repeats`` epochs of ``--batches`` batches,
summed over both processes, and its ratio to the LSTM's.

    python benchmarks/model_speed.py [--kinds LSTM HBV GR4J EXPHYDRO] [--last-n 30]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import time

BATCH, DAYS, N_DYNAMIC, N_STATIC = 256, 365, 6, 10


def spec_of(kind: str):
    from regional_lstm.models import ModelSpec

    common = {
        "n_dynamic": N_DYNAMIC,
        "n_static": N_STATIC,
        "hidden_size": 64,
        "num_layers": 1,
        "dropout": 0.0,
        "use_attention": False,
    }
    if kind == "LSTM":
        return ModelSpec(**common)
    # Standard-normal inputs made physical: prcp ~ 3 +- 5 mm/day (negatives clipped), tmin and
    # tmax ~ 8 +- 8 degC, day length ~ 12 +- 2 h.
    return ModelSpec(
        **common,
        kind=kind,
        parameter_sets=16,
        physical_index={"precipitation": (0,), "temperature": (2, 3), "day_length": (5,)},
        physical_scale=(5.0, 1.0, 8.0, 8.0, 1.0, 2.0),
        physical_offset=(3.0, 0.0, 8.0, 8.0, 0.0, 12.0),
        target_scale=0.5,
        target_offset=-0.5,
    )


def measure(args: tuple[str, int, int, int, int | None]) -> list[float]:
    kind, batches, repeats, last_n, micro_batch = args
    import torch

    from regional_lstm.models import build_model
    from regional_lstm.training.loop import train_epoch
    from regional_lstm.training.loss import nse_star

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = build_model(spec_of(kind))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [
        {
            "x_dynamic": torch.randn(BATCH, DAYS, N_DYNAMIC),
            "x_static": torch.randn(BATCH, N_STATIC),
            "y": torch.randn(BATCH, last_n, 1) if last_n > 1 else torch.randn(BATCH, 1),
            "target_std": torch.ones(BATCH, 1),
        }
        for _ in range(batches)
    ]
    rates = []
    for _ in range(repeats + 1):  # the first epoch warms up allocator and caches
        started = time.perf_counter()
        train_epoch(
            model,
            data,
            optimizer,
            nse_star([1.0]),
            1.0,
            torch.device("cpu"),
            last_n=last_n,
            micro_batch=micro_batch,
        )
        rates.append(batches * BATCH / (time.perf_counter() - started))
    return rates[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["LSTM", "HBV", "GR4J", "EXPHYDRO"])
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--last-n", type=int, default=30)
    parser.add_argument(
        "--micro-batch", type=int, default=None, help="run each batch in parts of this size"
    )
    args = parser.parse_args()
    speed = {}
    with mp.get_context("spawn").Pool(2) as pool:
        for kind in args.kinds:
            work = (kind, args.batches, args.repeats, args.last_n, args.micro_batch)
            per_process = pool.map(measure, [work, work])
            speed[kind] = statistics.median(sum(epoch) for epoch in zip(*per_process, strict=True))
            ratio = speed[kind] / speed[args.kinds[0]]
            print(f"{kind:>9}: {speed[kind]:7.0f} windows/s  ({ratio:.2f}x {args.kinds[0]})")


if __name__ == "__main__":
    main()
