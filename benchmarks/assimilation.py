"""What yesterday's gauge reading buys (Nearing et al. 2022): the 30 CAMELS-US basins of
../shared/data, one model with ``LSTM_LAGGED_STREAMFLOW: [1]`` and one without, otherwise the
same (experiments/camels_us.yaml with a shorter schedule), scored on the test period
2000-10-01..2010-09-30:

- lag-1 readings available: the lagged model as `evaluate` runs it, reading the store's
  observation of the day before each prediction (missing where the gauge has none);
- all readings withheld: the same model with ``--withhold-readings`` (as in an ungauged basin);
- without the feature: the model trained without lagged inputs;
- persistence, for scale: tomorrow's flow is today's reading (no model).

Prints a table of median and mean NSE and median KGE over the 30 basins, how many test days had
a reading, and the per-basin NSE differences. Training uses 2 Ray workers x 1 thread as
`regional-lstm train` does. Work files go to a temporary folder (``--workdir`` keeps them and
reuses a store, or models, found there), never into the repository:

    python benchmarks/assimilation.py --epochs 6 --samples 32768 --workdir /tmp/assimilation
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regional_lstm import logs  # noqa: E402
from regional_lstm.config import load_config  # noqa: E402
from regional_lstm.pipeline.layout import project_model  # noqa: E402
from regional_lstm.pipeline.results import evaluate_project  # noqa: E402
from regional_lstm.pipeline.stores import ensure_store  # noqa: E402
from regional_lstm.workflows.train import train  # noqa: E402

EXPERIMENT = ROOT / "experiments" / "camels_us.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples", type=int, default=32768, help="windows per epoch")
    parser.add_argument("--dropout", type=float, default=0.5, help="LSTM_LAGGED_STREAMFLOW_DROPOUT")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) work files here")
    args = parser.parse_args()
    logs.configure()
    with tempfile.TemporaryDirectory(prefix="assimilation-") as scratch:
        work = (args.workdir or Path(scratch)).absolute()
        work.mkdir(parents=True, exist_ok=True)
        os.chdir(ROOT)  # the experiment's DATA_SOURCE paths are relative to the checkout
        overrides = {
            # The model camels_us.yaml trained when the README's figures were measured.
            "CALIBRATION_PERIOD": ["1980-10-01", "2000-09-30"],
            "EARLY_STOPPING_PERIOD": None,
            "LSTM_LOOKBACK": 365,
            "LSTM_PREDICT_LAST_N": 1,
            "LSTM_DROPOUT": 0.2,
            "LSTM_LEARNING_RATE": 0.002,
            "LSTM_LEARNING_RATE_SCHEDULE": "constant",
            "DATA_STORE": str(work / "camels_us.zarr"),
            "LSTM_EPOCHS": args.epochs,
            "LSTM_SAMPLES_PER_EPOCH": args.samples,
            "LSTM_LEARNING_PATIENCE": args.epochs,
        }
        variants = {
            "lagged": {
                "LSTM_LAGGED_STREAMFLOW": [1],
                "LSTM_LAGGED_STREAMFLOW_DROPOUT": args.dropout,
            },
            "plain": {"LSTM_LAGGED_STREAMFLOW": []},
        }
        configs = {
            name: load_config(EXPERIMENT, overrides | extra | {"PROJECT_DIR": str(work / name)})
            for name, extra in variants.items()
        }
        ensure_store(configs["plain"])
        seconds = {}
        for name, config in configs.items():
            if project_model(config.PROJECT_DIR).exists():
                print(f"{name}: trained already in {config.PROJECT_DIR}", flush=True)
            else:
                start = time.monotonic()
                train(config)
                seconds[name] = time.monotonic() - start
        scores = {
            "lag-1 readings available": evaluate_project(configs["lagged"].PROJECT_DIR),
            "all readings withheld": evaluate_project(
                configs["lagged"].PROJECT_DIR, withhold_readings=True
            ),
            "without the feature": evaluate_project(configs["plain"].PROJECT_DIR),
        }
    persistence = _persistence(configs["plain"], scores["without the feature"].metrics.index)
    rows = {
        label: {
            "median NSE": e.metrics["NSE"].median(),
            "mean NSE": e.metrics["NSE"].mean(),
            "median KGE": e.metrics["KGE"].median(),
            "basins": len(e.metrics),
        }
        for label, e in scores.items()
    }
    rows["persistence (yesterday's reading)"] = {
        "median NSE": persistence.median(),
        "mean NSE": persistence.mean(),
        "median KGE": float("nan"),
        "basins": len(persistence),
    }
    table = pd.DataFrame(rows).T
    print(
        f"\n30 CAMELS-US basins, test period 2000-10-01..2010-09-30, {args.epochs} epochs of "
        f"{args.samples} windows, lagged-reading dropout {args.dropout}"
    )
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    nse = {label: e.metrics["NSE"] for label, e in scores.items()}
    gain = nse["lag-1 readings available"] - nse["without the feature"]
    loss = nse["all readings withheld"] - nse["without the feature"]
    print(
        f"readings vs none: NSE higher in {(gain > 0).sum()} of {len(gain)} basins "
        f"(median +{gain.median():.3f}); withheld vs without the feature: median "
        f"{loss.median():+.3f}"
    )
    for name, value in seconds.items():
        print(f"training {name}: {value / 60:.1f} min")


def _persistence(config, basins) -> pd.Series:
    """Per basin, the NSE over the test period of predicting each day's flow by the reading of
    the day before (days with both)."""
    from regional_lstm.data.reader import StoreReader
    from regional_lstm.evaluation.metrics import nse

    reader = StoreReader(config.store)
    period = config.VALIDATION_PERIOD
    days = reader.time_slice(period.start, period.end)
    flow = reader.read_optional(list(basins), ["streamflow"], slice(days.start - 1, days.stop))
    return pd.Series([nse(row[1:, 0], row[:-1, 0]) for row in flow], index=list(basins), name="NSE")


if __name__ == "__main__":
    main()
