"""Time to accuracy of a shipped experiment: the settings it shipped with before against today's.

Runs the real command, ``regional-lstm run CONFIG``, once per setting: ``new`` is
``experiments/<experiment>.yaml`` as shipped, ``old`` the same file with the settings it shipped
with before this round (`OLD`: sequence-to-one, a constant learning rate). The store is built
from the config's DATA_SOURCE in ../shared/data once beforehand (its time printed apart). Each
epoch line is stamped with the wall time since launch, so the printout is median validation NSE
(the early-stopping period) against wall time, then each run's wall time and the median NSE and
KGE of its evaluation period (metrics.csv), with the ratio of wall times. Other settings can be
tried with ``--set KEY=VALUE`` (a YAML value) on top of the shipped file: a third run,
``custom`` or ``--name``.

    python benchmarks/time_to_accuracy.py [--experiment camels_us] [--settings old new]
    python benchmarks/time_to_accuracy.py --settings --set LSTM_EPOCHS=8 --name eight
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from regional_lstm.config import load_config
from regional_lstm.pipeline.stores import ensure_store

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
# What each experiment trained with until 2026-12. camels_us: its header reported a median
# test NSE of 0.691 after ~60 min on a busy machine.
OLD = {
    "camels_us": {
        "LSTM_EPOCHS": 12,
        "LSTM_SAMPLES_PER_EPOCH": 65536,
        "LSTM_PREDICT_LAST_N": 1,
        "LSTM_LEARNING_RATE": 0.002,
        "LSTM_LEARNING_RATE_SCHEDULE": "constant",
        "LSTM_LEARNING_PATIENCE": 6,
        "LSTM_BATCH_SIZE": 256,
        "LSTM_DROPOUT": 0.2,
        "LSTM_LOOKBACK": 365,
        "CALIBRATION_PERIOD": ["1980-10-01", "2000-09-30"],
        "EARLY_STOPPING_PERIOD": None,
    },
    "camels_ch_donor": {
        "LSTM_EPOCHS": 8,
        "LSTM_SAMPLES_PER_EPOCH": 16384,
        "LSTM_PREDICT_LAST_N": 1,
        "LSTM_LEARNING_RATE": 0.003,
        "LSTM_LEARNING_RATE_SCHEDULE": "constant",
        "LSTM_LEARNING_PATIENCE": 3,
        "LSTM_BATCH_SIZE": 256,
        "LSTM_DROPOUT": 0.2,
        "LSTM_LOOKBACK": 270,
        "CALIBRATION_PERIOD": ["1995-10-01", "2010-09-30"],
        "EARLY_STOPPING_PERIOD": None,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="camels_us", choices=list(OLD))
    parser.add_argument("--settings", nargs="*", default=["old", "new"], choices=["old", "new"])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", default="custom", help="the name of the --set run")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"{SHARED}: the real data are not beside this checkout")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rl-time-to-accuracy-"))
    shipped = ROOT / "experiments" / f"{args.experiment}.yaml"
    store = workdir / f"{args.experiment}.zarr"
    _build_store(shipped, store)
    settings = {name: (OLD[args.experiment] if name == "old" else {}) for name in args.settings}
    if args.set:
        settings[args.name] = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    results = {
        name: _run(shipped, f"{args.experiment}_{name}", changes, workdir, store)
        for name, changes in settings.items()
    }
    _print(args.experiment, results)


def _build_store(shipped: Path, store: Path) -> None:
    """The experiment's store from its DATA_SOURCE (paths as the README runs it), once."""
    if store.exists():
        return
    with contextlib.chdir(ROOT):
        config = load_config(shipped, {"DATA_STORE": str(store)})
    started = time.perf_counter()
    ensure_store(config)
    print(f"store {store}: built in {time.perf_counter() - started:.0f} s (not counted)")


def _run(shipped: Path, name: str, changes: dict, workdir: Path, store: Path) -> dict:
    """One `regional-lstm run` of the shipped config with ``changes``; its timed epochs."""
    config = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    project = workdir / name
    config |= changes | {"DATA_STORE": str(store), "PROJECT_DIR": str(project), "DATA_SOURCE": None}
    config.pop("MLFLOW_TRACKING_URI", None)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    print(f"\n{name}: regional-lstm run {path}", flush=True)
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    epochs: list[tuple[float, str]] = []
    started = time.perf_counter()
    with subprocess.Popen(
        ["regional-lstm", "run", str(path), "--restart"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as process:
        for line in process.stdout:
            elapsed = time.perf_counter() - started
            if line.startswith("Epoch "):
                epochs.append((elapsed, line.strip()))
                print(f"  {elapsed:6.0f} s  {line.strip()}", flush=True)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{name}: regional-lstm run failed ({process.returncode})")
    card = json.loads((project / "models" / "LSTM" / "best_model.json").read_text())
    history = card["training"]["history"]
    metrics = pd.read_csv(project / "results" / "metrics.csv", dtype={"basin": str})
    return {
        "wall": wall,
        "epochs": [(stamp, h["val_nse"]) for (stamp, _), h in zip(epochs, history, strict=True)],
        "train": sum(h["epoch_seconds"] for h in history),
        "best_epoch": card["training"]["early_stopping"]["best_epoch"] + 1,
        "best_val": card["training"]["early_stopping"]["best"],
        "nse": float(metrics["NSE"].median()),
        "kge": float(metrics["KGE"].median()),
    }


def _print(experiment: str, results: dict[str, dict]) -> None:
    print("\nMedian validation NSE (early-stopping period) against wall time since launch")
    for name, r in results.items():
        curve = ", ".join(f"{stamp:.0f} s: {nse:.3f}" for stamp, nse in r["epochs"])
        print(f"  {name}: {curve}")
    print(
        f"\n{experiment}: `regional-lstm run` on 2 cores\n"
        "setting     wall (s)  epochs  training (s)  best epoch  best val NSE  test NSE  test KGE"
    )
    for name, r in results.items():
        print(
            f"{name:10s} {r['wall']:9.0f} {len(r['epochs']):7d} {r['train']:12.0f} "
            f"{r['best_epoch']:11d} {r['best_val']:13.3f} {r['nse']:9.3f} {r['kge']:9.3f}"
        )
    if "old" in results and "new" in results:
        old, new = results["old"], results["new"]
        print(
            f"new vs old: {old['wall'] / new['wall']:.2f}x less wall time, "
            f"test NSE {new['nse'] - old['nse']:+.3f}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
