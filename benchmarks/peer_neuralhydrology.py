"""Training samples/s and evaluation time against neuralhydrology 1.13, back to back, same data.

The 30 CAMELS-US basins of ``../shared/data/camels_us_torchhydronodes`` are ingested once with
our csv adapter; that store is both our input and the source of neuralhydrology's
GenericDataset (``time_series/<basin>.nc`` + ``attributes/attributes.csv``), so both tools read
the same numbers. Settings on both sides: an LSTM with the attributes concatenated at every step
(our ``concat`` model, NH's ``cudalstm``), hidden 64, lookback / seq_length 365, predict the last
day only, the 6 Daymet inputs, 26 static attributes, NSE* loss, Adam lr 1e-3 without weight
decay, gradient clip 1, forget-gate bias 3, no dropout, seed 0, one epoch, 256 windows per
optimiser step (ours: 2 Ray workers x 1 thread x 128 windows, since LSTM_BATCH_SIZE is per
worker; NH: one process, torch's default threads, DataLoader num_workers 0).

Periods: train 1980-10-01..1995-09-30 and validation (our EARLY_STOPPING_PERIOD, NH's
validation period) 1995-10-01..2000-09-30, the default split of the calibration period of
experiments/camels_us.yaml, given explicitly on both sides (so both fit their normalisation on
the train period); test 2000-10-01..2010-09-30. Validation runs the same way on both: after
the epoch, on all 30 basins, a window per day of the validation period; it is outside the
timed epoch on both sides. An epoch is every valid window once (NH shuffles them, we draw as
many at random), or ``--samples N`` on both (NH ``max_updates_per_epoch``).

Training is timed around each tool's own epoch function, from outside and without changing
either code base: NH's ``BaseTrainer._train_epoch`` (patched in the NH process by the small
driver below) and our ``training.loop.train_epoch`` in every Ray worker (an import hook put on
the workers' PYTHONPATH); both include the data loading inside the epoch. The epoch's
samples/s is the primary figure; start-up (command launch to the first step) and the whole
train command are printed too (ours also evaluates the test period after training). Evaluation
is the whole command with its outputs, wall time: ``nh-run evaluate --run-dir RUN`` (test
period, seq-to-one, metrics CSV and results pickle) against ``regional-lstm evaluate PROJECT
--mode exact`` and ``--mode stateful`` (per-basin CSVs, metrics, MLflow run, plots unless
``--no-plots``), alternating over ``--repeats``. Ratios: ours / NH samples/s (target >= 1.8) and
NH seconds / ours for evaluation (target >= 1.3 for exact).

It installs nothing: neuralhydrology runs in its own venv, ``--nh-python`` (default
$NEURALHYDROLOGY_PYTHON, else ../nhvenv/bin/python beside the checkout); without it the script
says how to make one and exits 0. Work files go to a temporary folder (``--workdir`` keeps
them), never into the repository. The last line gives the load average around the commands:
on a busy machine the figures mislead (torch with 2 threads in one process, as NH runs, slows
down many times when the cores are oversubscribed). On a quiet machine:

    python benchmarks/peer_neuralhydrology.py --repeats 3   # every window, 10 test years
    python benchmarks/peer_neuralhydrology.py --samples 16384 --workdir /tmp/peer-nh
    python benchmarks/peer_neuralhydrology.py --quick   # a check: 2048 samples, train to
                                                        # 1999-09-30, 1 validation + 1 test year
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import yaml

from regional_lstm.config import Config
from regional_lstm.config_periods import Period
from regional_lstm.data.ingest import ingest
from regional_lstm.data.store import open_store
from regional_lstm.pipeline.planning import make_plan

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "camels_us_torchhydronodes"
MAPPING = REPO / "datasets" / "camels_us_torchhydronodes.yaml"
NH_VENV_HINT = "python -m venv ../nhvenv && ../nhvenv/bin/pip install torch==2.13.0 neuralhydrology"

DYNAMIC = ["prcp", "srad", "tmax", "tmin", "vp", "dayl"]
STATIC = [
    "elev_mean", "slope_mean", "area_gages2", "frac_forest", "lai_max", "lai_diff", "gvf_max",
    "gvf_diff", "soil_depth_pelletier", "soil_depth_statsgo", "soil_porosity",
    "soil_conductivity", "max_water_content", "sand_frac", "silt_frac", "clay_frac",
    "carbonate_rocks_frac", "geol_permeability", "p_mean", "pet_mean", "aridity", "frac_snow",
    "high_prec_freq", "high_prec_dur", "low_prec_freq", "low_prec_dur",
]  # fmt: skip
TARGET = "streamflow"
HIDDEN, LOOKBACK, BATCH, LEARNING_RATE, WORKERS, SEED = 64, 365, 256, 1e-3, 2, 0
FULL = {
    "train": Period.parse(["1980-10-01", "1995-09-30"]),
    "validation": Period.parse(["1995-10-01", "2000-09-30"]),
    "test": Period.parse(["2000-10-01", "2010-09-30"]),
}
QUICK = {
    "train": Period.parse(["1980-10-01", "1999-09-30"]),
    "validation": Period.parse(["1999-10-01", "2000-09-30"]),
    "test": Period.parse(["2000-10-01", "2001-09-30"]),
}
QUICK_SAMPLES = 2048
EPOCH_LOG = "RL_PEER_EPOCH_LOG"  # where the import hook in our Ray workers appends epoch records

# Runs in the NH venv: times BaseTrainer._train_epoch around NH's own nh-run train entry point.
NH_TRAIN_DRIVER = """
import json, sys, time
from pathlib import Path
import torch
from neuralhydrology import nh_run
from neuralhydrology.training.basetrainer import BaseTrainer

config_file, record_file = Path(sys.argv[1]), Path(sys.argv[2])
epochs = []
untimed = BaseTrainer._train_epoch

def timed(self, epoch):
    start = time.time()
    untimed(self, epoch)
    windows, updates = len(self.loader.dataset), self._max_updates_per_epoch
    samples = windows if updates is None else min(windows, updates * self.cfg.batch_size)
    epochs.append({"start": start, "end": time.time(), "samples": samples, "windows": windows})

BaseTrainer._train_epoch = timed
nh_run.start_run(config_file=config_file, gpu=-1)
record_file.write_text(json.dumps({"epochs": epochs, "threads": torch.get_num_threads()}))
"""

# sitecustomize.py for our train command only: wraps training.loop.train_epoch when it is first
# imported (in the Ray workers) to append one record per epoch and rank to $RL_PEER_EPOCH_LOG.
OUR_EPOCH_HOOK = """
import importlib.abc, importlib.machinery, json, os, sys, time

class _TimeEpochs(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "regional_lstm.training.loop":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            module.train_epoch = _timed(module.train_epoch)

        spec.loader.exec_module = exec_module
        return spec

def _timed(train_epoch):
    def timed(model, batches, *args, **kwargs):
        sizes = []

        def counted():
            for batch in batches:
                sizes.append(len(batch["y"]))
                yield batch

        start = time.time()
        result = train_epoch(model, counted(), *args, **kwargs)
        record = {"pid": os.getpid(), "start": start, "end": time.time(), "samples": sum(sizes)}
        with open(os.environ["RL_PEER_EPOCH_LOG"], "a") as log:
            log.write(json.dumps(record) + "\\n")
        return result
    return timed

if os.environ.get("RL_PEER_EPOCH_LOG"):
    sys.meta_path.insert(0, _TimeEpochs())
"""


@dataclass(frozen=True)
class TrainTiming:
    """One training command: its first epoch, start-up before it, and the whole command."""

    samples: int
    epoch_s: float
    startup_s: float
    command_s: float

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.epoch_s

    @property
    def end_to_end_samples_per_s(self) -> float:
        """Samples over launch to the end of the epoch: start-up included."""
        return self.samples / (self.startup_s + self.epoch_s)


def default_nh_python() -> Path:
    return Path(os.environ.get("NEURALHYDROLOGY_PYTHON", REPO.parent / "nhvenv" / "bin" / "python"))


def imports_neuralhydrology(python: Path) -> bool:
    try:
        check = subprocess.run(
            [str(python), "-c", "import neuralhydrology"], capture_output=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return check.returncode == 0


def run_logged(command: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run ``command`` with its output in ``log``; its wall seconds, or exit with the log's tail."""
    start = time.perf_counter()
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        sys.exit(f"{' '.join(command)} failed ({done.returncode}); {log}:\n{tail}")
    return seconds


def write_nh_dataset(store: Path, folder: Path) -> list[str]:
    """GenericDataset layout from our store: one netCDF per basin, one attributes CSV."""
    ds = open_store(store)
    basins = [str(b) for b in ds["basin"].values]
    (folder / "time_series").mkdir(parents=True)
    (folder / "attributes").mkdir()
    dynamic = ds[[*DYNAMIC, TARGET]].load().drop_encoding().rename({"time": "date"})
    for basin in basins:
        dynamic.sel(basin=basin, drop=True).to_netcdf(folder / "time_series" / f"{basin}.nc")
    attributes = ds[STATIC].load().drop_encoding().to_dataframe()
    attributes.index.name = "gauge_id"
    attributes.to_csv(folder / "attributes" / "attributes.csv")
    (folder / "basins.txt").write_text("\n".join(basins) + "\n")
    return basins


def nh_date(day: pd.Timestamp) -> str:
    return f"{day:%d/%m/%Y}"


def write_nh_config(
    workdir: Path, periods: dict[str, Period], samples: int | None, basins: int
) -> Path:
    basins_file = str(workdir / "nh_data" / "basins.txt")
    config = {
        "experiment_name": "peer",
        "run_dir": str(workdir / "nh_runs"),
        "train_basin_file": basins_file,
        "validation_basin_file": basins_file,
        "test_basin_file": basins_file,
        "device": "cpu",
        "validate_every": 1,
        "validate_n_random_basins": basins,
        # Used for validation and test alike; near what our metrics.csv holds.
        "metrics": ["NSE", "KGE", "Pearson-r", "Alpha-NSE", "Beta-NSE", "RMSE", "FHV", "FLV"],
        "model": "cudalstm",
        "head": "regression",
        "output_activation": "linear",
        "hidden_size": HIDDEN,
        "initial_forget_bias": 3,
        "output_dropout": 0.0,
        "optimizer": "Adam",
        "loss": "NSE",
        "learning_rate": LEARNING_RATE,
        "batch_size": BATCH,
        "epochs": 1,
        "clip_gradient_norm": 1.0,
        "predict_last_n": 1,
        "seq_length": LOOKBACK,
        "num_workers": 0,
        "log_interval": 5,
        "log_tensorboard": False,
        "log_n_figures": 0,
        "save_weights_every": 1,
        "seed": SEED,
        "dataset": "generic",
        "data_dir": str(workdir / "nh_data"),
        "dynamic_inputs": DYNAMIC,
        "target_variables": [TARGET],
        "static_attributes": STATIC,
    }
    for name, period in periods.items():
        config[f"{name}_start_date"] = nh_date(period.start)
        config[f"{name}_end_date"] = nh_date(period.end)
    if samples is not None:
        config["max_updates_per_epoch"] = samples // BATCH
    path = workdir / "nh_config.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def our_config(store: Path, workdir: Path, periods: dict[str, Period], args) -> dict:
    return {
        "DOMAIN_NAME": "peer_nh",
        "DATA_STORE": str(store),
        "PROJECT_DIR": str(workdir / "ours"),
        "DYNAMIC_INPUTS": DYNAMIC,
        "STATIC_ATTRIBUTES": STATIC,
        "TARGETS": [TARGET],
        "CALIBRATION_PERIOD": periods["train"].to_list(),
        "EARLY_STOPPING_PERIOD": periods["validation"].to_list(),
        "VALIDATION_PERIOD": periods["test"].to_list(),
        "LSTM_HIDDEN_SIZE": HIDDEN,
        "LSTM_NUM_LAYERS": 1,
        "LSTM_LOOKBACK": LOOKBACK,
        "LSTM_DROPOUT": 0.0,
        "LSTM_USE_ATTENTION": False,
        "LSTM_STATIC_CONDITIONING": "concat",
        "LSTM_LOSS": "nse",
        "LSTM_EPOCHS": 1,
        "LSTM_BATCH_SIZE": args.our_batch_size,
        "LSTM_LEARNING_RATE": LEARNING_RATE,
        "LSTM_L2_REGULARIZATION": 0.0,
        "LSTM_GRADIENT_CLIP": 1.0,
        "LSTM_SAMPLES_PER_EPOCH": args.samples,
        "RAY_NUM_WORKERS": WORKERS,
        "SEED": SEED,
    }


def train_nh(nh_python: Path, config: Path, workdir: Path) -> tuple[TrainTiming, Path, int, int]:
    """nh-run train's entry point under the epoch timer: timing, run dir, windows, threads."""
    record = workdir / "nh_train_timing.json"
    launched = time.time()
    command_s = run_logged(
        [str(nh_python), "-c", NH_TRAIN_DRIVER, str(config), str(record)],
        workdir / "nh_train.log",
    )
    timing = json.loads(record.read_text())
    epoch = timing["epochs"][0]
    (run_dir,) = (workdir / "nh_runs").iterdir()
    result = TrainTiming(
        epoch["samples"], epoch["end"] - epoch["start"], epoch["start"] - launched, command_s
    )
    return result, run_dir, epoch["windows"], timing["threads"]


def train_ours(config: Path, workdir: Path) -> TrainTiming:
    """``regional-lstm train CONFIG`` with the epoch hook on the Ray workers' PYTHONPATH."""
    hook = workdir / "epoch_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(OUR_EPOCH_HOOK)
    records = workdir / "our_epochs.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # our own local Ray
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    env[EPOCH_LOG] = str(records)
    command = [sys.executable, "-m", "regional_lstm", "train", "--restart", str(config)]
    launched = time.time()
    command_s = run_logged(command, workdir / "ours_train.log", env=env)
    if not records.is_file():
        sys.exit(f"no epoch was timed in our Ray workers ({EPOCH_LOG} hook not loaded?)")
    ranks = [json.loads(line) for line in records.read_text().splitlines()]
    if len(ranks) != WORKERS:
        sys.exit(f"expected one timed epoch per worker, got {len(ranks)} records in {records}")
    start, end = min(r["start"] for r in ranks), max(r["end"] for r in ranks)
    return TrainTiming(sum(r["samples"] for r in ranks), end - start, start - launched, command_s)


def median_nse(csv: Path, column: str = "NSE") -> float:
    return float(pd.read_csv(csv)[column].median())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nh-python",
        type=Path,
        default=default_nh_python(),
        help="python of a venv with neuralhydrology (default: $NEURALHYDROLOGY_PYTHON, else "
        "../nhvenv/bin/python beside the checkout)",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="camels_us_torchhydronodes")
    parser.add_argument(
        "--samples", type=int, default=None, help="per epoch, both sides (default: all windows)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SAMPLES} samples, 1 validation + test year"
    )
    parser.add_argument("--repeats", type=int, default=1, help="evaluation repeats")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="ours: no PNGs")
    parser.add_argument(
        "--our-batch-size",
        type=int,
        default=BATCH // WORKERS,
        help=f"LSTM_BATCH_SIZE, per Ray worker (default {BATCH // WORKERS}: {BATCH} per step)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="kept; default: a temp dir")
    args = parser.parse_args()
    if not imports_neuralhydrology(args.nh_python):
        print(
            f"neuralhydrology is not importable with {args.nh_python}: make that venv with "
            f"`{NH_VENV_HINT}` or pass --nh-python PATH; nothing measured"
        )
        return
    periods = QUICK if args.quick else FULL
    if args.quick and args.samples is None:
        args.samples = QUICK_SAMPLES
    if args.samples is not None:
        args.samples = max(BATCH, args.samples // BATCH * BATCH)  # whole steps on both sides
    if args.workdir is None:
        with tempfile.TemporaryDirectory(prefix="peer-nh-") as tmp:
            compare(args, periods, Path(tmp))
    else:
        workdir = args.workdir.resolve()
        if workdir.is_relative_to(REPO):
            sys.exit(f"--workdir {workdir} is inside the repository; choose a folder outside it")
        workdir.mkdir(parents=True, exist_ok=False)
        compare(args, periods, workdir)


def compare(args, periods: dict[str, Period], workdir: Path) -> None:
    store = ingest("csv", args.data, workdir / "store.zarr", mapping=MAPPING)
    basins = write_nh_dataset(store, workdir / "nh_data")
    nh_config = write_nh_config(workdir, periods, args.samples, len(basins))
    mapping = our_config(store, workdir, periods, args)
    config_path = workdir / "ours.yaml"
    config_path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    our_windows = sum(make_plan(Config.from_mapping(mapping, source="benchmark")).counts.values())
    print(
        f"train {periods['train']}, validation {periods['validation']}, test {periods['test']}; "
        f"epoch: {args.samples or 'all windows'}; work files in {workdir}"
    )

    loads = [os.getloadavg()[0]]  # 1-min averages after each command: was the machine quiet?
    nh, nh_run_dir, nh_windows, nh_threads = train_nh(args.nh_python, nh_config, workdir)
    loads.append(os.getloadavg()[0])
    ours = train_ours(config_path, workdir)
    loads.append(os.getloadavg()[0])
    nh_run = Path(args.nh_python).parent / "nh-run"
    nh_evaluate = (
        [str(nh_run)] if nh_run.is_file() else [str(args.nh_python), "-m", "neuralhydrology.nh_run"]
    )
    evaluations = {
        "nh": [*nh_evaluate, "evaluate", "--run-dir", str(nh_run_dir)],
        **{
            mode: [
                *(sys.executable, "-m", "regional_lstm", "evaluate", mapping["PROJECT_DIR"]),
                *("--mode", mode, "--plots" if args.plots else "--no-plots"),
            ]
            for mode in ("exact", "stateful")
        },
    }
    seconds: dict[str, list[float]] = {name: [] for name in evaluations}
    for repeat in range(args.repeats):
        for name, command in evaluations.items():
            log = workdir / f"evaluate_{name}_{repeat}.log"
            seconds[name].append(run_logged(command, log))
            loads.append(os.getloadavg()[0])
    evaluation = {name: statistics.median(values) for name, values in seconds.items()}
    exact_path = prediction_path(workdir / f"evaluate_exact_{args.repeats - 1}.log")
    nh_nse = median_nse(nh_run_dir / "test" / "model_epoch001" / "test_metrics.csv")
    our_nse = median_nse(Path(mapping["PROJECT_DIR"]) / "results" / "metrics.csv")
    report(args, nh, ours, nh_windows, our_windows, nh_threads, evaluation, nh_nse, our_nse)
    print(f"our exact prediction: {exact_path}; NH: 1 process x {nh_threads} torch threads")
    warn_if_busy(loads)


def prediction_path(log: Path) -> str:
    """How our evaluate command predicted: its line about Ray workers, else in one process."""
    spread = [line for line in log.read_text().splitlines() if line.startswith("Predicting ")]
    return spread[-1] if spread else f"in one process x {torch.get_num_threads()} torch threads"


def warn_if_busy(loads: list[float]) -> None:
    """Torch with 2 threads in one process (NH, both evaluate commands) slows down many times
    when the cores are oversubscribed; single-thread workers much less: such runs mislead."""
    cores = os.cpu_count() or 1
    print(
        f"1-min load average after each command: {min(loads):.1f} to {max(loads):.1f} "
        f"on {cores} cores"
    )
    if max(loads) > cores:
        print(
            "  the machine was busy: multi-threaded torch suffers most from that, so these "
            "figures and ratios do not compare the tools; rerun on a quiet machine"
        )


def report(args, nh, ours, nh_windows, our_windows, nh_threads, evaluation, nh_nse, our_nse):
    print(
        f"settings: hidden {HIDDEN}, lookback {LOOKBACK}, {BATCH} windows per step, "
        f"{len(DYNAMIC)} inputs, {len(STATIC)} attributes, NSE* loss, Adam {LEARNING_RATE}, "
        "1 epoch"
    )
    print(
        f"NH: 1 process x {nh_threads} torch threads; ours: {WORKERS} Ray workers x 1 thread x "
        f"{args.our_batch_size} windows; valid train windows NH {nh_windows}, ours {our_windows}"
    )
    rows = {
        "samples in the epoch": (nh.samples, ours.samples, "{:.0f}"),
        "epoch (s)": (nh.epoch_s, ours.epoch_s, "{:.1f}"),
        "samples/s, epoch": (nh.samples_per_s, ours.samples_per_s, "{:.0f}"),
        "start-up to first step (s)": (nh.startup_s, ours.startup_s, "{:.1f}"),
        "samples/s, launch to epoch end": (
            nh.end_to_end_samples_per_s,
            ours.end_to_end_samples_per_s,
            "{:.0f}",
        ),
        "train command (s)": (nh.command_s, ours.command_s, "{:.1f}"),
    }
    print(f"{'training':32} {'neuralhydrology':>16} {'regional-lstm':>14}")
    for name, (theirs, mine, form) in rows.items():
        print(f"{name:32} {form.format(theirs):>16} {form.format(mine):>14}")
    print("  (our train command also evaluates the test period in exact mode after training)")
    print(
        f"evaluation of the test period, whole command, median of {args.repeats} "
        f"(ours with plots: {args.plots}):"
    )
    print(f"  nh-run evaluate                      {evaluation['nh']:8.1f} s")
    for mode in ("exact", "stateful"):
        print(f"  regional-lstm evaluate --mode {mode:9}{evaluation[mode]:8.1f} s")
    print(f"median test NSE after the epoch: NH {nh_nse:.3f}, ours (exact) {our_nse:.3f}")
    print(
        f"ratio ours / NH training samples/s (epoch): {ours.samples_per_s / nh.samples_per_s:.2f}x "
        "(target >= 1.8x)"
    )
    print(
        "ratio ours / NH training samples/s (launch to epoch end): "
        f"{ours.end_to_end_samples_per_s / nh.end_to_end_samples_per_s:.2f}x"
    )
    print(
        f"ratio NH / ours evaluation seconds, exact: {evaluation['nh'] / evaluation['exact']:.2f}x "
        f"(target >= 1.3x); stateful: {evaluation['nh'] / evaluation['stateful']:.2f}x"
    )


if __name__ == "__main__":
    main()
