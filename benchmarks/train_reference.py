"""`regional-lstm train` epoch time against a plain-PyTorch loop doing the same compute.

The toolkit side is a real `regional-lstm train` (`fifty_basins`: 50 synthetic basins, hidden
64, lookback 365, batch 256, 2 Ray workers x 1 thread, validation on every basin each epoch). Its
epoch time is the time between consecutive epoch lines in the run's log, which rank 0 writes as
each validation ends (so it holds everything an epoch costs: batches from the store,
forward/backward, DDP allreduce, validation, the previous epoch's report and checkpoint); epoch 1
(start-up) is left out. The CPU seconds per epoch of each train worker and of the rest of the
process tree (Ray's own processes, the driver) show where the time goes on a small machine.

The reference is 2 processes x 1 thread (torch.multiprocessing, DDP over gloo as Ray Train sets
up) training the same model (the toolkit plan's ModelSpec through ``build_model``: forget-gate
bias and all) with the same optimizer, loss, clipping and step count on batches already in
memory, each step in the same forward/backward parts as the toolkit's CPU step (gradients
summed, one allreduce) and under the malloc settings the toolkit's Ray workers start with, then
the same number of validation forward passes (each rank its half of the basins, the toolkit's
CPU validation batch per pass, unwrapped model, no_grad), denormals flushed. It runs
before and after the toolkit, so both sides see the machine's load; the script prints median
epoch seconds of both and the ratio (target <= 1.1).

    python benchmarks/train_reference.py [--epochs 4 --samples 65536 --workdir DIR]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from contextlib import nullcontext
from itertools import pairwise
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from cpu_step import environment
from fifty_basins import Experiment, epoch_metrics, prepare, start_training
from memory import Watch
from torch import nn

from regional_lstm.allocator import ENVIRONMENT as ALLOCATOR_ENVIRONMENT
from regional_lstm.config import load_config
from regional_lstm.models import ModelSpec, build_model
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.training.loop import CPU_MICRO_BATCH
from regional_lstm.training.loss import nse_star
from regional_lstm.training.validation import CPU_BATCH_SIZE

TARGET_RATIO = 1.1
DISTINCT_BATCHES = 8  # in-memory batches cycled through (values do not change the compute)


def _reference_rank(rank: int, world: int, port: int, job: dict, out) -> None:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    torch.manual_seed(rank)
    spec: ModelSpec = job["spec"]
    core = build_model(spec)
    model = nn.parallel.DistributedDataParallel(core)
    optimizer = torch.optim.Adam(model.parameters(), lr=job["lr"], weight_decay=job["l2"])
    loss_fn = nse_star([1.0] * spec.n_targets)
    lookback, batch = job["lookback"], job["batch"]

    def make(size: int) -> dict[str, torch.Tensor]:
        return {
            "x_dynamic": torch.randn(size, lookback, spec.n_dynamic),
            "x_static": torch.randn(size, spec.n_static),
            "y": torch.randn(size, spec.n_targets),
            "target_std": torch.ones(size, spec.n_targets),
        }

    batches = [make(batch) for _ in range(DISTINCT_BATCHES)]
    windows = job["validation_windows"][rank]
    sizes = [min(CPU_BATCH_SIZE, windows - first) for first in range(0, windows, CPU_BATCH_SIZE)]
    validation = make(CPU_BATCH_SIZE)
    seconds = []
    for _ in range(job["epochs"]):
        dist.barrier()
        started, cpu = time.perf_counter(), time.process_time()
        model.train()
        for step in range(job["steps"]):
            data = batches[step % DISTINCT_BATCHES]
            optimizer.zero_grad(set_to_none=True)
            size = job["micro_batch"] or batch
            firsts = range(0, batch, size)
            for i, first in enumerate(firsts):
                part = {k: v[first : first + size] for k, v in data.items()}
                with nullcontext() if i == len(firsts) - 1 else model.no_sync():
                    loss = loss_fn(model(part)["y_hat"], part["y"], part["target_std"])
                    (loss * len(part["y"]) / batch).backward()
            nn.utils.clip_grad_norm_(model.parameters(), job["clip"])
            optimizer.step()
        trained = time.perf_counter(), time.process_time()
        core.eval()
        with torch.no_grad():
            for size in sizes:
                core({k: v[:size] for k, v in validation.items()})
        dist.all_reduce(torch.zeros(2))  # the validation scores' gather
        wall = (trained[0] - started, time.perf_counter() - trained[0])
        seconds.append((sum(wall), wall, (trained[1] - cpu, time.process_time() - trained[1])))
    if rank == 0:
        out.put(seconds)
    dist.destroy_process_group()


def reference_epochs(job: dict) -> list[tuple[float, tuple, tuple]]:
    """Rank 0's seconds per epoch: wall, (train, validation) wall, (train, validation) CPU."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = mp.get_context("spawn")
    out = context.SimpleQueue()
    with environment(ALLOCATOR_ENVIRONMENT):  # the toolkit's workers' malloc, read at start-up
        mp.start_processes(
            _reference_rank,
            args=(job["workers"], port, job, out),
            nprocs=job["workers"],
            start_method="spawn",
        )
    return out.get()


def reference_job(config_path: Path, experiment: Experiment) -> dict:
    """What the reference repeats: the toolkit's model spec, steps and validation windows."""
    config = load_config(config_path)
    plan = make_plan(config)
    scored = list(plan.validation_basins or plan.basins)
    # The synthetic store has no gaps and a year before calibration: every early-stopping day
    # ends a valid validation window, and each rank scores scored[rank::world].
    days = config.early_stopping_period.days
    world = experiment.workers
    return {
        "spec": plan.model,
        "workers": world,
        "epochs": experiment.epochs,
        "steps": max(1, round(experiment.samples_per_epoch / (experiment.batch * world))),
        "batch": experiment.batch,
        "micro_batch": CPU_MICRO_BATCH,
        "lookback": experiment.lookback,
        "lr": plan.learning_rate,
        "l2": plan.weight_decay,
        "clip": plan.gradient_clip,
        "validation_windows": [len(scored[r::world]) * days for r in range(world)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=65_536, help="windows per epoch")
    parser.add_argument("--basins", type=int, default=50)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (epoch 1 holds the start-up)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rl-overhead-"))
    experiment = Experiment(basins=args.basins, epochs=args.epochs, samples_per_epoch=args.samples)
    config, project = prepare(workdir, experiment)

    job = reference_job(config, experiment)
    reference = reference_epochs(job)[1:]
    watch = run_watched(config, workdir / "train-output.txt", project)
    ended = [watch.epoch_ended[e] for e in sorted(watch.epoch_ended)]
    toolkit = [later - earlier for earlier, later in pairwise(ended)]
    inside = epoch_metrics(project)
    reference += reference_epochs(job)[1:]

    print(
        f"{args.basins} basins, {args.epochs} epochs x {args.samples} windows "
        f"({job['steps']} steps of {experiment.batch} per rank, validation windows per rank "
        f"{job['validation_windows']}), 2 processes x 1 thread; output in {workdir}"
    )
    print("toolkit epochs, wall s: " + " ".join(f"{s:.1f}" for s in toolkit))
    for name, values in inside.items():
        print(f"  {name} (rank 0's own): " + " ".join(f"{s:.1f}" for s in values))
    workers, others = epoch_cpu(watch)
    print("  CPU s per train worker: " + " ".join(f"{s:.1f}" for s in workers))
    print("  CPU s of the rest of the tree: " + " ".join(f"{s:.1f}" for s in others))
    print("reference epochs, wall s: " + " ".join(f"{w:.1f}" for w, _, _ in reference))
    print(
        "  train + validation wall s: " + " ".join(f"{t:.1f}+{v:.1f}" for _, (t, v), _ in reference)
    )
    print(
        "  train + validation CPU s: " + " ".join(f"{t:.1f}+{v:.1f}" for _, _, (t, v) in reference)
    )
    ours, theirs = statistics.median(toolkit), statistics.median(w for w, _, _ in reference)
    print(f"median epoch: toolkit {ours:.1f} s, reference {theirs:.1f} s")
    verdict = "met" if ours / theirs <= TARGET_RATIO else "NOT met"
    print(f"ratio toolkit / reference: {ours / theirs:.3f} (target <= {TARGET_RATIO}: {verdict})")


def run_watched(config: Path, output: Path, project: Path) -> Watch:
    """The toolkit's training; its tree's CPU times and the time each epoch's line appears in
    the run's log (rank 0 writes it as validation ends), sampled every 0.1 s."""
    process = start_training(config, output)
    watch = Watch(process.pid, project / "logs" / "train.log")
    while process.poll() is None:
        watch.sample(memory=False)
        time.sleep(0.1)
    if process.returncode != 0:
        raise SystemExit(f"training failed: see {output}")
    return watch


def epoch_cpu(watch: Watch) -> tuple[list[float], list[float]]:
    """Per epoch 2..N: CPU seconds of each train worker (mean) and of all other processes."""
    workers, others = [], []
    for epoch in range(1, watch.epoch):
        used = {
            pid: p.epoch_cpu[epoch] - p.epoch_cpu.get(epoch - 1, p.epoch_cpu[epoch])
            for pid, p in watch.processes.items()
            if epoch in p.epoch_cpu
        }
        mine = [
            used[pid]
            for pid, p in watch.processes.items()
            if pid in used and p.kind == "train worker"
        ]
        workers.append(statistics.mean(mine) if mine else 0.0)
        others.append(
            sum(v for pid, v in used.items() if watch.processes[pid].kind != "train worker")
        )
    return workers, others


if __name__ == "__main__":
    main()
