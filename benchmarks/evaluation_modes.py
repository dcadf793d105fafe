"""The `evaluate` command's work in exact mode (a lookback window per day) vs stateful mode.

A synthetic store (50 basins, 5 evaluation years by default), a regional LSTM trained briefly
in-process (hidden 64, lookback 365), saved as a project; then `evaluate_project` runs as the
`evaluate` command does (prediction, CSVs, metrics; plots unless --no-plots) in each mode,
alternating, and the script prints median wall times, the ratio exact / stateful (target >= 20)
and the prediction-only ratio, plus the per-basin NSE difference between the two modes.

    python benchmarks/evaluation_modes.py [--basins 50 --years 5 --repeats 3]
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

from regional_lstm.artifacts import ModelCard, load_model, save_model
from regional_lstm.config import Config
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.synth import synthesize
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.results import evaluate_project
from regional_lstm.training.checkpoint import read_checkpoint
from regional_lstm.training.fit import WorkerContext, fit

FIRST_YEAR = 1990
CALIBRATION_YEARS = 3


def trained_project(workdir: Path, basins: int, years: int, hidden: int, lookback: int) -> Path:
    """Store, one short training epoch in this process, the model saved as a project."""
    store = synthesize(
        workdir / "store.zarr", basins=basins, years=CALIBRATION_YEARS + years, seed=0
    )
    last_calibration = FIRST_YEAR + CALIBRATION_YEARS - 1
    config = Config.from_mapping(
        {
            "DOMAIN_NAME": "bench",
            "DATA_STORE": str(store),
            "PROJECT_DIR": str(workdir / "project"),
            "DYNAMIC_INPUTS": ["prcp", "tmin", "tmax", "srad", "pet", "dayl"],
            "STATIC_ATTRIBUTES": ["area", "elev_mean", "aridity", "frac_forest", "soil_depth"],
            "CALIBRATION_PERIOD": [FIRST_YEAR, last_calibration],
            "VALIDATION_PERIOD": [last_calibration + 1, last_calibration + years],
            "LSTM_HIDDEN_SIZE": hidden,
            "LSTM_LOOKBACK": lookback,
            "LSTM_EPOCHS": 1,
            "LSTM_SAMPLES_PER_EPOCH": 8192,
            "LSTM_DROPOUT": 0.0,
            "LSTM_USE_ATTENTION": False,  # attention needs whole windows: exact mode only
        },
        source="benchmark",
    )
    plan = make_plan(config)
    kept = {}
    fit(plan, WorkerContext(report=lambda m, folder: kept.update(folder=read_checkpoint(folder))))
    card = ModelCard(
        plan.model, plan.data, plan.norm, plan.basins, config.to_yaml_dict(), {"epoch": 1}
    )
    save_model(config.PROJECT_DIR / BEST_MODEL, kept["folder"][1], card)
    return config.PROJECT_DIR


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=50)
    parser.add_argument("--years", type=int, default=5, help="evaluation years")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lookback", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-plots", dest="plots", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory(prefix="bench-evaluation-") as tmp:
        project = trained_project(Path(tmp), args.basins, args.years, args.hidden, args.lookback)
        model, card = load_model(project / BEST_MODEL)
        reader = StoreReader(card.config["DATA_STORE"])
        period = Config.from_mapping(card.config, source="benchmark").VALIDATION_PERIOD
        basins = card.trained_basins
        times: dict[str, list[float]] = {"exact": [], "stateful": []}
        predict: dict[str, list[float]] = {"exact": [], "stateful": []}
        for _ in range(args.repeats):
            for mode in times:
                times[mode].append(
                    timed(lambda m=mode: evaluate_project(project, plots=args.plots, mode=m))
                )
                predict[mode].append(
                    timed(
                        lambda m=mode: predict_period(model, card, reader, basins, period, mode=m)
                    )
                )
        evaluation = evaluate_project(project, plots=False, mode="both")
    table = pd.DataFrame(
        {
            mode: [statistics.median(times[mode]), statistics.median(predict[mode])]
            for mode in times
        },
        index=["evaluate (s)", "prediction only (s)"],
    )
    print(
        f"{args.basins} basins x {args.years} years, hidden {args.hidden}, lookback "
        f"{args.lookback}, {args.threads} threads, plots {args.plots}, "
        f"median of {args.repeats}"
    )
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    ratios = table["exact"] / table["stateful"]
    print(f"evaluate exact / stateful: {ratios['evaluate (s)']:.1f}x (target >= 20x)")
    print(f"prediction exact / stateful: {ratios['prediction only (s)']:.1f}x")
    difference = evaluation.metrics["NSE_exact_minus_stateful"]
    print(
        f"NSE exact - stateful per basin: median |d| {np.median(np.abs(difference)):.4f}, "
        f"max |d| {np.max(np.abs(difference)):.4f} (a model after one short epoch)"
    )


if __name__ == "__main__":
    main()
