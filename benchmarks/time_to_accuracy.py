"""Time to accuracy of the shipped CAMELS-US experiment: old settings against the shipped ones.

Runs the real command, ``regional-lstm run CONFIG``, once per setting on the 30 CAMELS-US basins
of ``../shared/data/camels_us_torchhydronodes`` (the store ingested once beforehand; its time is
printed apart). ``new`` is ``experiments/camels_us.yaml`` as shipped; ``old`` is the same file with
the settings it shipped with before (sequence-to-one, 12 epochs of 65,536 windows, constant
learning rate 0.002, patience 6). Each epoch line is stamped with the wall time since launch, so
the printout is median validation NSE (the early-stopping period, 1995-10..2000-09) against wall
time, then each run's wall time and its median test NSE and KGE (2000-10..2010-09, metrics.csv),
with the ratio of wall times. Other settings can be tried with ``--set KEY=VALUE`` (a YAML
value), on top of the shipped file: a third run, ``custom`` or ``--name``.

    python benchmarks/time_to_accuracy.py [--settings old new] [--set LSTM_EPOCHS=8 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "camels_us_torchhydronodes"
SHIPPED = ROOT / "experiments" / "camels_us.yaml"
# What experiments/camels_us.yaml trained with until 2026-12 (its header reported a median test
# NSE of 0.691 after ~60 min on a busy machine).
OLD = {
    "LSTM_EPOCHS": 12,
    "LSTM_SAMPLES_PER_EPOCH": 65536,
    "LSTM_PREDICT_LAST_N": 1,
    "LSTM_LEARNING_RATE": 0.002,
    "LSTM_LEARNING_RATE_SCHEDULE": "constant",
    "LSTM_LEARNING_PATIENCE": 6,
    "LSTM_BATCH_SIZE": 256,
    "LSTM_DROPOUT": 0.2,
    "LSTM_HIDDEN_SIZE": 64,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="*", default=["old", "new"], choices=["old", "new"])
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--name", default="custom", help="the name of the --set run")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if not SOURCE.is_dir():
        raise SystemExit(f"{SOURCE}: the CAMELS-US sample is not beside this checkout")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rl-time-to-accuracy-"))
    store = workdir / "store.zarr"
    if not store.exists():
        started = time.perf_counter()
        command = [
            "regional-lstm", "ingest", "csv", str(SOURCE), "--out", str(store),
            "--mapping", str(ROOT / "datasets" / "camels_us_torchhydronodes.yaml"),
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        print(f"ingest of the 30 basins: {time.perf_counter() - started:.0f} s (not counted)")
    settings = {name: (OLD if name == "old" else {}) for name in args.settings}
    if args.set:
        settings[args.name] = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    results = {name: _run(name, changes, workdir, store) for name, changes in settings.items()}
    _print(results)


def _run(name: str, changes: dict, workdir: Path, store: Path) -> dict:
    """One `regional-lstm run` of the shipped config with ``changes``; its timed epochs."""
    config = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
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


def _print(results: dict[str, dict]) -> None:
    print("\nMedian validation NSE (early-stopping period) against wall time since launch")
    for name, r in results.items():
        curve = ", ".join(f"{stamp:.0f} s: {nse:.3f}" for stamp, nse in r["epochs"])
        print(f"  {name}: {curve}")
    print(
        "\n30 CAMELS-US basins, `regional-lstm run` on 2 cores (2 Ray workers x 1 thread)\n"
        "setting  wall (s)  epochs  training (s)  best epoch  best val NSE  test NSE  test KGE"
    )
    for name, r in results.items():
        print(
            f"{name:7s} {r['wall']:9.0f} {len(r['epochs']):7d} {r['train']:12.0f} "
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
