"""Training at scale: throughput, planning time and memory from 50 to 20,000 basins.

For each store size the script runs, in a fresh child process, what ``regional-lstm train``
runs before evaluation: the driver's plan (normalisation and window statistics, streamed and
spread over processes) and then Ray Train with 2 workers x 1 thread, the same model (hidden 64,
lookback 365, batch 256), the same epoch (``--samples`` windows) and the same early-stopping
sample (``LSTM_VALIDATION_BASINS``) at every size. It samples the RSS of every process in the
child's tree (driver, planning workers, Ray Train workers, Ray's own processes) twice a second.

The smallest store is read once beforehand (it sits in the page cache, the baseline); every
other store's files are evicted from the page cache first (``posix_fadvise(DONTNEED)``, which
needs no root), so their epochs read from disk. Prints per size: store size on disk and
uncompressed, planning seconds, median training samples/s, peak RSS per process kind, and the
ratios the issue sets (throughput vs the smallest store, worker RSS vs the second size).

    python benchmarks/scale.py --workdir /work/big --sizes 50 100 2000 20000 --years 40
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

DYNAMIC = ["prcp", "tmin", "tmax", "srad", "pet", "dayl"]
STATIC = ["area", "elev_mean", "aridity", "frac_forest", "soil_depth", "gauge_lat", "p_mean"]
ITEM_BYTES = {"float32": 4, "float64": 8, "int32": 4, "uint8": 1}
KINDS = ("driver", "planning", "train worker", "ray (other)", "other")


def main() -> None:
    args = _parser().parse_args()
    if args.child is not None:
        _child(args)
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, n in enumerate(args.sizes):
        store = _store(workdir, n, args.years)
        size = _store_size(store)
        cache = _warm(store) if i == 0 else _evict(store)
        print(
            f"[{n} basins] {store}: {size[0] / 1e9:.2f} GB on disk, "
            f"{size[1] / 1e9:.2f} GB uncompressed; page cache: {cache}",
            flush=True,
        )
        result = _run_child(args, n, store, workdir)
        result.update(basins=n, disk=size[0], raw=size[1])
        results.append(result)
        _print_one(result)
    _summary(results)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="/tmp/rl-scale")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 2000, 20000])
    parser.add_argument("--years", type=int, default=40)
    parser.add_argument("--samples", type=int, default=65536, help="windows per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--validation-basins", type=int, default=50)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--store", default=None, help=argparse.SUPPRESS)
    return parser


# --- stores and the page cache ----------------------------------------------------------------


def _store(workdir: Path, n: int, years: int) -> Path:
    store = workdir / f"syn{n}x{years}.zarr"
    if not (store / "zarr.json").exists():
        from regional_lstm.data.synth import synthesize

        started = time.perf_counter()
        synthesize(store, basins=n, years=years, seed=0)
        seconds = time.perf_counter() - started
        print(f"[{n} basins] synthesized in {seconds:.0f} s ({n / seconds:.1f} basins/s)")
    return store


def _files(store: Path) -> list[Path]:
    return [Path(root) / f for root, _, files in os.walk(store) for f in files]


def _store_size(store: Path) -> tuple[int, int]:
    """Bytes on disk and uncompressed (every array's shape x item size)."""
    disk = sum(f.stat().st_size for f in _files(store))
    raw = 0
    for meta in store.rglob("zarr.json"):
        info = json.loads(meta.read_text())
        if info.get("node_type") == "array":
            count = 1
            for d in info["shape"]:
                count *= d
            raw += count * ITEM_BYTES.get(info["data_type"], 8)
    return disk, raw


def _cached_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Cached:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def _evict(store: Path) -> str:
    before = _cached_gb()
    for f in _files(store):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return f"evicted (machine's page cache {before:.1f} -> {_cached_gb():.1f} GB)"


def _warm(store: Path) -> str:
    for f in _files(store):
        f.read_bytes()
    return "warm (read once beforehand)"


# --- the child: plan and train, as `regional-lstm train` does ---------------------------------


def _child(args: argparse.Namespace) -> None:
    from regional_lstm.config import Config
    from regional_lstm.distributed.cluster import ray_session
    from regional_lstm.logs import configure
    from regional_lstm.pipeline.fitting import fit_and_save
    from regional_lstm.pipeline.planning import make_plan

    configure()
    first = 1990
    project = Path(args.workdir) / f"project-{args.child}"
    shutil.rmtree(project, ignore_errors=True)  # a finished run there would resume, not train
    config = Config.from_mapping(
        {
            "DOMAIN_NAME": f"scale-{args.child}",
            "DATA_STORE": args.store,
            "PROJECT_DIR": str(project),
            "DYNAMIC_INPUTS": DYNAMIC,
            "STATIC_ATTRIBUTES": STATIC,
            "CALIBRATION_PERIOD": [first + 1, first + args.years - 3],
            "EARLY_STOPPING_PERIOD": [first + args.years - 2, first + args.years - 2],
            "VALIDATION_PERIOD": [first + args.years - 1, first + args.years - 1],
            "LSTM_HIDDEN_SIZE": 64,
            "LSTM_NUM_LAYERS": 1,
            "LSTM_LOOKBACK": 365,
            "LSTM_DROPOUT": 0.0,
            "LSTM_USE_ATTENTION": False,
            "LSTM_BATCH_SIZE": 256,
            "LSTM_EPOCHS": args.epochs,
            "LSTM_LEARNING_PATIENCE": args.epochs + 1,
            "LSTM_SAMPLES_PER_EPOCH": args.samples,
            "LSTM_VALIDATION_BASINS": args.validation_basins,
            "RAY_NUM_WORKERS": 2,
        },
        source="benchmarks/scale.py",
    )
    started = time.perf_counter()
    plan = make_plan(config)
    planning = time.perf_counter() - started
    print(json.dumps({"phase": "planned", "at": time.time()}), flush=True)
    with ray_session(None):
        _, state = fit_and_save(config, plan, None)
    history = state["history"]
    print(
        json.dumps(
            {
                "planning_s": planning,
                "train_s": [h["train_seconds"] for h in history],
                "epoch_s": [h["epoch_seconds"] for h in history],
                "samples": plan.samples_per_epoch,
            }
        ),
        flush=True,
    )


def _run_child(args: argparse.Namespace, n: int, store: Path, workdir: Path) -> dict:
    command = [sys.executable, __file__, "--child", str(n), "--store", str(store)]
    command += ["--workdir", str(workdir), "--epochs", str(args.epochs), "--years", str(args.years)]
    command += ["--samples", str(args.samples), "--validation-basins", str(args.validation_basins)]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    watch = _Watch(child.pid)
    watch.start()
    lines = []
    for line in child.stdout:
        lines.append(line)
        if line.startswith('{"phase": "planned"'):
            watch.planned = True
    watch.stop()
    if child.wait() != 0:
        sys.exit(f"[{n} basins] the run failed:\n{''.join(lines[-20:])}")
    result = json.loads(lines[-1])
    result["peaks"] = watch.peaks
    result["planning_driver"] = watch.planning_driver
    return result


# --- memory of a process tree, from /proc ------------------------------------------------------


class _Watch(threading.Thread):
    """Peak RSS per process kind in the tree under ``root``, sampled every half second."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peaks = root, {k: 0 for k in (*KINDS, "tree")}
        self.planning_driver, self.planned = 0, False
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.5):
            sizes: dict[str, int] = {}
            tree = 0
            for pid, kind in _tree(self.root):
                rss = _rss(pid)
                tree += rss
                sizes[kind] = max(sizes.get(kind, 0), rss)
            for kind, rss in sizes.items():
                self.peaks[kind] = max(self.peaks[kind], rss)
            self.peaks["tree"] = max(self.peaks["tree"], tree)
            if not self.planned:
                self.planning_driver = max(self.planning_driver, sizes.get("driver", 0))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _tree(root: int) -> list[tuple[int, str]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append((pid, _kind(pid, root)))
        todo.extend(children.get(pid, []))
    return found


def _kind(pid: int, root: int) -> str:
    if pid == root:
        return "driver"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "other"
    if "RayTrainWorker" in command:
        return "train worker"
    if "multiprocessing.spawn" in command or "multiprocessing-fork" in command:
        return "planning"
    if "ray" in command:
        return "ray (other)"
    return "other"


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --- report -----------------------------------------------------------------------------------


def _rate(result: dict) -> float:
    return result["samples"] / statistics.median(result["train_s"])


def _epoch_of(result: dict, windows: int) -> float:
    """Median seconds of an epoch (validation included) scaled to ``windows`` training windows."""
    train = statistics.median(result["train_s"]) * windows / result["samples"]
    return train + statistics.median(result["epoch_s"]) - statistics.median(result["train_s"])


def _print_one(r: dict) -> None:
    peaks = ", ".join(f"{k} {v / 2**30:.2f}" for k, v in r["peaks"].items())
    print(
        f"[{r['basins']} basins] planning {r['planning_s']:.1f} s (driver peak "
        f"{r['planning_driver'] / 2**30:.2f} GiB); epochs {[round(s, 1) for s in r['epoch_s']]} s, "
        f"training {[round(s, 1) for s in r['train_s']]} s -> {_rate(r):.0f} samples/s; "
        f"peak RSS GiB: {peaks}",
        flush=True,
    )


def _summary(results: list[dict]) -> None:
    base = results[0]
    print(
        "\nbasins  disk GB  raw GB  plan s  epoch s  samples/s  vs first  worker GiB  "
        "driver GiB  tree GiB"
    )
    for r in results:
        print(
            f"{r['basins']:6d} {r['disk'] / 1e9:8.2f} {r['raw'] / 1e9:7.2f} "
            f"{r['planning_s']:7.1f} {statistics.median(r['epoch_s']):8.1f} {_rate(r):10.0f} "
            f"{_rate(r) / _rate(base):9.3f} {r['peaks']['train worker'] / 2**30:11.2f} "
            f"{r['peaks']['driver'] / 2**30:11.2f} {r['peaks']['tree'] / 2**30:9.2f}"
        )
    if len(results) > 2:
        second, last = results[1], results[-1]
        grow = last["peaks"]["train worker"] / second["peaks"]["train worker"]
        print(
            f"throughput {last['basins']} vs {base['basins']} basins: "
            f"{_rate(last) / _rate(base):.3f} (target >= 0.80); worker RSS {last['basins']} vs "
            f"{second['basins']} basins: {grow:.3f} (target <= 1.25); planning at "
            f"{last['basins']}: {last['planning_s'] / _epoch_of(last, 65536):.2f} epochs of "
            "65,536 windows (target <= 1)"
        )


if __name__ == "__main__":
    main()
