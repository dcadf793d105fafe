"""Peak memory of `regional-lstm train` at the 50-basin size, per process of its whole tree.

Runs a real training (`fifty_basins`: 50 synthetic basins, 6 inputs, 10 attributes, hidden 64,
lookback 365, batch 256, 2 Ray workers x 1 thread, validation every epoch) as a child process and
samples every process under it from /proc (Linux): the driver, Ray's control plane (gcs_server,
raylet, dashboard and its agents, log monitor, ...), the Train controller and the train workers.
It prints each process's peak RSS, the workers' RSS per epoch (peak within the epoch and the value
when it ended: creep shows as a rise from epoch to epoch), and the tree's peak summed RSS and PSS
(RSS counts shared library pages once per process; PSS splits them) against the targets:
worker peak RSS <= 1.0 GB, the tree's peak summed PSS (the memory it takes from the machine)
<= 2.5 GB (GB = 10^9 bytes).

    python benchmarks/memory.py [--epochs 4 --samples 65536 --workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from fifty_basins import Experiment, prepare, start_training

WORKER_LIMIT_GB, TREE_LIMIT_GB = 1.0, 2.5
GB = 1e9
TICKS = os.sysconf("SC_CLK_TCK")
EPOCH_LINE = re.compile(r"^Epoch (\d+)/\d+:")
# Ray workers by their process title (ray::<actor or task>); the rest by what they run.
TITLES = {"RayTrainWorker": "train worker", "TrainController": "train controller"}
SCRIPTS = [
    ("gcs_server", "gcs_server"),
    ("raylet", "raylet"),
    ("dashboard.py", "dashboard"),
    ("log_monitor.py", "log monitor"),
    ("monitor.py", "autoscaler monitor"),
    ("default_worker.py", "starting ray worker"),  # until Ray sets the worker's title
]
AGENTS = [
    ("resource_tracker", "multiprocessing resource tracker"),
    ("runtime_env/agent/main.py", "runtime env agent"),
    ("dashboard/agent.py", "dashboard agent"),
]
# Kinds looked up again at the next sample: the process may still take its final title.
GENERIC = ("starting ray worker", "idle ray worker", "other")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rfind(")") + 2 :].split()[1])
            tree[parent].append(int(entry.name))
    return tree


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, parent pid) of ``root`` and every process under it, parents first."""
    tree, found, todo = _children(), [(root, 0)], [root]
    while todo:
        parent = todo.pop()
        kids = tree.get(parent, [])
        found += [(kid, parent) for kid in kids]
        todo += kids
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_of(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) in bytes, None once the process is gone."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = dict(re.findall(r"^(Rss|Pss):\s+(\d+) kB", rollup, re.MULTILINE))
    if "Rss" not in values:
        return None  # a zombie
    return int(values["Rss"]) * 1024, int(values["Pss"]) * 1024


def kind_of(pid: int, driver: int) -> str:
    """What a process is; Ray workers are generic until their actor's title is set."""
    if pid == driver:
        return "driver"
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return "other"
    command = " ".join(argv).strip()
    if command.startswith("ray::"):
        title = command.removeprefix("ray::").split(" ")[0].split(".")[0]
        return "idle ray worker" if title == "IDLE" else TITLES.get(title, title)
    if command.startswith("ray-dashboard-"):
        return command.split(" ")[0]  # a dashboard head module's process
    # By program first: the raylet's own arguments name the agents it starts.
    programs = [Path(part).name for part in argv[:3]]
    for program, kind in SCRIPTS:
        if program in programs:
            return kind
    for needle, kind in AGENTS:
        if needle in command:
            return kind
    return "other: " + " ".join(programs)


@dataclass
class Process:
    """One process's kind and RSS: peak, peak per epoch, and when each epoch ended."""

    kind: str
    first_seen: float
    settled: bool = False  # kind final (not a Ray worker still starting, not unknown)
    peak_rss: int = 0
    peak_pss: int = 0
    last_rss: int = 0
    last_cpu: float = 0.0
    epoch_cpu: dict[int, float] = field(default_factory=dict)  # CPU seconds when epoch ended
    epoch_peak: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    epoch_end: dict[int, int] = field(default_factory=dict)


class Watch:
    """Samples of every process under the driver, with the epoch each fell in (from the log)."""

    def __init__(self, driver: int, log_file: Path) -> None:
        self.driver, self.log_file = driver, log_file
        self.processes: dict[int, Process] = {}
        self.epoch, self.log_position = 0, 0
        self.tree_peak_rss = self.tree_peak_pss = 0
        self.training_peak_rss = self.training_peak_pss = 0
        self.epoch_tree_peak: dict[int, int] = defaultdict(int)
        self.epoch_ended: dict[int, float] = {}  # epoch index -> when its log line appeared

    def sample(self, memory: bool = True) -> None:
        """One look at every process; ``memory=False`` reads only CPU times (cheap)."""
        rss_sum = pss_sum = 0
        workers = False
        for pid, parent in descendants(self.driver):
            measured = memory_of(pid) if memory else (0, 0)
            if measured is None:
                continue
            rss, pss = measured
            process = self.processes.get(pid)
            if process is None:
                process = self.processes[pid] = Process("other", time.time())
            if not process.settled:
                self._classify(process, pid, parent)
            workers |= process.kind == "train worker"
            rss_sum, pss_sum = rss_sum + rss, pss_sum + pss
            process.peak_rss, process.peak_pss = (
                max(process.peak_rss, rss),
                max(process.peak_pss, pss),
            )
            process.epoch_peak[self.epoch] = max(process.epoch_peak[self.epoch], rss)
            process.last_rss, process.last_cpu = rss, cpu_seconds(pid)
        self.tree_peak_rss = max(self.tree_peak_rss, rss_sum)
        self.tree_peak_pss = max(self.tree_peak_pss, pss_sum)
        if workers:
            self.training_peak_rss = max(self.training_peak_rss, rss_sum)
            self.training_peak_pss = max(self.training_peak_pss, pss_sum)
            self.epoch_tree_peak[self.epoch] = max(self.epoch_tree_peak[self.epoch], rss_sum)
        self._advance_epochs()

    def _classify(self, process: Process, pid: int, parent: int) -> None:
        kind = kind_of(pid, self.driver)
        process.settled = not kind.startswith(GENERIC)
        if kind.startswith("other") and parent in self.processes:
            kind = f"{self.processes[parent].kind}'s child ({kind.removeprefix('other: ')})"
        process.kind = kind

    def _advance_epochs(self) -> None:
        if not self.log_file.exists():
            return
        with self.log_file.open() as handle:
            handle.seek(self.log_position)
            text = handle.read()
        complete = text[: text.rfind("\n") + 1]
        self.log_position += len(complete.encode())
        for line in complete.splitlines():
            if match := EPOCH_LINE.match(line):
                for process in self.processes.values():
                    process.epoch_end[self.epoch] = process.last_rss
                    process.epoch_cpu[self.epoch] = process.last_cpu
                self.epoch_ended[self.epoch] = time.perf_counter()
                self.epoch = int(match.group(1))

    def named(self) -> dict[str, Process]:
        """The processes by a readable name: kind, numbered where a kind has several."""
        by_kind: dict[str, list[Process]] = defaultdict(list)
        for process in sorted(self.processes.values(), key=lambda p: p.first_seen):
            by_kind[process.kind].append(process)
        return {
            (kind if len(group) == 1 else f"{kind} {i + 1}"): process
            for kind, group in by_kind.items()
            for i, process in enumerate(group)
        }


def report(watch: Watch) -> bool:
    """Print the tables; True when both targets are met."""
    named = watch.named()
    last = watch.epoch - 1

    def cpu(process: Process) -> float:  # CPU seconds from the end of epoch 1 to the last's
        ends = process.epoch_cpu
        return ends[last] - ends[0] if 0 in ends and last in ends else 0.0

    print(f"\n{'process':<34}{'peak RSS MB':>12}{'peak PSS MB':>12}{'CPU s, epochs 2..':>19}")
    for name, process in sorted(named.items(), key=lambda item: -item[1].peak_rss):
        print(
            f"{name:<34}{process.peak_rss / 1e6:>12.0f}{process.peak_pss / 1e6:>12.0f}"
            f"{cpu(process):>19.1f}"
        )
    others = sum(cpu(p) for p in named.values() if p.kind != "train worker")
    print(
        f"CPU seconds in epochs 2..{watch.epoch}: train workers "
        f"{sum(cpu(p) for p in named.values() if p.kind == 'train worker'):.1f}, "
        f"the rest of the tree {others:.1f}"
    )
    workers = {name: p for name, p in named.items() if p.kind == "train worker"}
    driver = named.get("driver")
    print(
        "\nper epoch, MB: each train worker's peak RSS / its RSS as the epoch ended; "
        "the driver's and the tree's peak RSS"
    )
    for epoch in range(watch.epoch):
        cells = [
            f"{p.epoch_peak[epoch] / 1e6:5.0f} / {p.epoch_end.get(epoch, 0) / 1e6:<5.0f}"
            for p in workers.values()
        ]
        cells.append(f"driver {driver.epoch_peak[epoch] / 1e6:4.0f}" if driver else "")
        cells.append(f"tree {watch.epoch_tree_peak[epoch] / 1e6:5.0f}")
        print(f"  epoch {epoch + 1:>2}:  " + "   ".join(cells))
    worker_peak = max((p.peak_rss for p in workers.values()), default=0)
    creep = [p.epoch_end.get(last, 0) - p.epoch_end.get(0, 0) for p in workers.values()]
    print(
        f"\nworker peak RSS {worker_peak / GB:.2f} GB (target <= {WORKER_LIMIT_GB}); RSS change "
        f"from the end of epoch 1 to the end of epoch {watch.epoch}: "
        + ", ".join(f"{c / 1e6:+.0f} MB" for c in creep)
    )
    print(
        f"tree peak while training: summed PSS {watch.training_peak_pss / GB:.2f} GB "
        f"(target <= {TREE_LIMIT_GB}), summed RSS {watch.training_peak_rss / GB:.2f} GB; "
        f"over the whole run (with the driver's evaluation and its forked plotters): PSS "
        f"{watch.tree_peak_pss / GB:.2f} GB, RSS {watch.tree_peak_rss / GB:.2f} GB"
    )
    # The tree's memory is its summed PSS: summed RSS counts each shared page (torch's
    # libraries, a forked child's copy-on-write pages) once in every process mapping it.
    return worker_peak <= WORKER_LIMIT_GB * GB and watch.tree_peak_pss <= TREE_LIMIT_GB * GB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=65_536, help="windows per epoch")
    parser.add_argument("--basins", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between samples")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rl-memory-"))
    experiment = Experiment(basins=args.basins, epochs=args.epochs, samples_per_epoch=args.samples)
    config, project = prepare(workdir, experiment)
    started = time.perf_counter()
    process = start_training(config, workdir / "train-output.txt")
    watch = Watch(process.pid, project / "logs" / "train.log")
    while process.poll() is None:
        watch.sample()
        time.sleep(args.interval)
    if process.returncode != 0:
        raise SystemExit(f"training failed ({process.returncode}): see {workdir}/train-output.txt")
    print(
        f"{args.basins} basins, {args.epochs} epochs x {args.samples} windows, "
        f"{time.perf_counter() - started:.0f} s in all; output in {workdir}"
    )
    met = report(watch)
    print("targets met" if met else "targets NOT met")


if __name__ == "__main__":
    main()
