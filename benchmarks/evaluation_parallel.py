"""Exact evaluation in the driver alone vs spread over Ray workers (one core and thread each).

The same synthetic store and briefly trained model as `evaluation_modes.py` (50 basins, hidden
64, lookback 365; 10 evaluation years by default). `evaluate_project` runs as the `evaluate`
command does (prediction, CSVs, metrics, plots unless --no-plots) with ``distribute=False``
(serial, torch on --threads threads) and ``distribute=True`` (a local Ray started and shut down
inside, as the CLI does), alternating; then prediction alone both ways. Prints median seconds,
the ratio serial / distributed, the largest prediction difference, and the two numbers the
start-up threshold of `regional_lstm.distributed.predict` rests on: the serial speed in
multiply-adds per second and the seconds a Ray start costs before the first prediction.

    python benchmarks/evaluation_parallel.py [--basins 50 --years 10 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from evaluation_modes import trained_project

from regional_lstm.artifacts import load_model
from regional_lstm.config import Config
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.distributed.predict import predict_members_distributed, prediction_macs
from regional_lstm.evaluation.predict import predict_members
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.pipeline.results import evaluate_project


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def largest_difference(serial: dict, distributed: dict) -> float:
    """Largest |serial - distributed| simulated value over all basins and days (mm/day)."""
    return max(
        float(np.nanmax(np.abs(frame["streamflow_sim"] - distributed[b]["streamflow_sim"])))
        for b, frame in serial.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=50)
    parser.add_argument("--years", type=int, default=10, help="evaluation years")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lookback", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the serial run")
    parser.add_argument("--no-plots", dest="plots", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds: dict[str, list[float]] = {
        key: [] for key in ("evaluate serial", "evaluate distributed", "predict serial")
    }
    seconds |= {"predict distributed": [], "Ray start (2 basins x 1 day)": []}
    with tempfile.TemporaryDirectory(prefix="bench-parallel-") as tmp:
        project = trained_project(Path(tmp), args.basins, args.years, args.hidden, args.lookback)
        model, card = load_model(project / BEST_MODEL)
        reader = StoreReader(card.config["DATA_STORE"])
        period = Config.from_mapping(card.config, source="benchmark").VALIDATION_PERIOD
        basins, members = card.trained_basins, [(model, card)]
        one_day = Period(period.start, period.start)
        for _ in range(args.repeats):
            for distribute, key in ((False, "evaluate serial"), (True, "evaluate distributed")):
                run = lambda d=distribute: evaluate_project(  # noqa: E731
                    project, plots=args.plots, mode="exact", distribute=d
                )
                seconds[key].append(timed(run)[0])
            took, serial = timed(lambda: predict_members(members, reader, basins, period))
            seconds["predict serial"].append(took)
            took, spread = timed(
                lambda: predict_members_distributed(members, reader, basins, period, spread=True)
            )
            seconds["predict distributed"].append(took)
            start = timed(
                lambda: predict_members_distributed(
                    members, reader, basins[:2], one_day, spread=True
                )
            )[0]
            seconds["Ray start (2 basins x 1 day)"].append(start)
    median = pd.Series({key: statistics.median(values) for key, values in seconds.items()})
    print(
        f"{args.basins} basins x {args.years} years, hidden {args.hidden}, lookback "
        f"{args.lookback}, serial on {args.threads} threads, plots {args.plots}, "
        f"median of {args.repeats} (s)"
    )
    print(median.to_string(float_format=lambda v: f"{v:.2f}"))
    for what in ("evaluate", "predict"):
        ratio = median[f"{what} serial"] / median[f"{what} distributed"]
        print(f"{what} serial / distributed: {ratio:.2f}x")
    macs = prediction_macs([card], len(basins), period, "exact")
    print(f"serial speed: {macs / median['predict serial']:.2e} multiply-adds/s")
    print(
        f"largest |serial - distributed| prediction: {largest_difference(serial[0], spread[0]):.2e}"
    )


if __name__ == "__main__":
    main()
