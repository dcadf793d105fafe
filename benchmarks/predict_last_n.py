"""Sequence-to-sequence training: supervised target-days/s and skill at a fixed wall budget.

On the 30 CAMELS-US basins of ``../shared/data/camels_us_torchhydronodes`` (the settings of
``experiments/camels_us.yaml``: 6 Daymet inputs, 26 attributes, hidden 64, lookback 365, batch
256), trains one model per ``LSTM_PREDICT_LAST_N`` value in this process (2 threads, the
CLI's malloc settings) for the same wall-clock budget, in epochs of ``--samples`` windows, each
scored on a one-year early-stopping period. Prints, per N: windows/s and supervised
target-days/s (windows/s x N, training time only), epochs done, and the best median validation
NSE within the budget, with ratios to N = 1.

    python benchmarks/predict_last_n.py --budget 240 [--last-n 1 7 30]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch

from regional_lstm.allocator import keep_freed_memory
from regional_lstm.config import load_config
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.training.fit import WorkerContext, fit

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "camels_us_torchhydronodes"


class _OutOfTime(Exception):
    """Raised from the report callback once the wall budget is spent."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240.0, help="seconds of training per N")
    parser.add_argument("--last-n", type=int, nargs="+", default=[1, 7, 30])
    parser.add_argument("--samples", type=int, default=8192, help="windows per epoch")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not SOURCE.is_dir():
        raise SystemExit(f"{SOURCE}: the CAMELS-US sample is not beside this checkout")
    torch.set_num_threads(2)
    keep_freed_memory()  # as the CLI does: the LSTM's work space reused, not re-faulted
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rl-last-n-"))
    rows = [_run(args, workdir, n) for n in args.last_n]
    base = rows[0]
    print(f"\n30 CAMELS-US basins, {args.budget:.0f} s of wall time per run, 1 process x 2 threads")
    print("  N  windows/s  target-days/s  x N=1  epochs  best median val NSE")
    for r in rows:
        print(
            f"{r['n']:3d} {r['rate']:10.0f} {r['rate'] * r['n']:14.0f} "
            f"{r['rate'] * r['n'] / (base['rate'] * base['n']):6.2f} {r['epochs']:7d} "
            f"{r['best']:20.3f}"
        )


def _run(args: argparse.Namespace, workdir: Path, last_n: int) -> dict:
    config = load_config(
        ROOT / "experiments" / "camels_us.yaml",
        {
            "DATA_STORE": str(workdir / "store.zarr"),
            "DATA_SOURCE": {
                "kind": "csv",
                "path": str(SOURCE),
                "mapping": str(ROOT / "datasets" / "camels_us_torchhydronodes.yaml"),
            },
            "PROJECT_DIR": str(workdir / f"n{last_n}"),
            "CALIBRATION_PERIOD": ["1980-10-01", "1999-09-30"],
            "EARLY_STOPPING_PERIOD": ["1999-10-01", "2000-09-30"],
            "LSTM_SAMPLES_PER_EPOCH": args.samples,
            "LSTM_EPOCHS": 10_000,
            "LSTM_LEARNING_PATIENCE": 10_000,
            "LSTM_PREDICT_LAST_N": last_n,
            # The model camels_us.yaml trained when the README's figures were measured.
            "LSTM_LOOKBACK": 365,
            "LSTM_DROPOUT": 0.2,
            "LSTM_LEARNING_RATE": 0.002,
            "LSTM_LEARNING_RATE_SCHEDULE": "constant",
            "RAY_NUM_WORKERS": 1,
        },
    )
    ensure_store(config)
    plan = make_plan(config)
    history: list[dict] = []
    started = time.perf_counter()

    def report(metrics: dict, _folder) -> None:
        history.append(metrics)
        if time.perf_counter() - started > args.budget:
            raise _OutOfTime

    with contextlib.suppress(_OutOfTime):
        fit(plan, WorkerContext(report=report))
    rate = args.samples / statistics.median(h["train_seconds"] for h in history)
    best = max(h["val_nse"] for h in history)
    print(f"N={last_n}: {len(history)} epochs, {rate:.0f} windows/s, best val NSE {best:.3f}")
    return {"n": last_n, "rate": rate, "epochs": len(history), "best": best}


if __name__ == "__main__":
    main()
