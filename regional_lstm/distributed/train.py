"""Ray Train: one TorchTrainer whose workers run ``training.fit`` under DDP."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from ray.train import Checkpoint, FailureConfig, RunConfig, ScalingConfig, WorkerGroupError

from regional_lstm import logs
from regional_lstm.atomic import replace_dir
from regional_lstm.distributed.callbacks import NODE_KEY, EpochsToFile
from regional_lstm.distributed.cluster import embedded
from regional_lstm.distributed.failures import explain, run_checkpoint
from regional_lstm.distributed.trainers import ClusterTorchTrainer, LocalTorchTrainer
from regional_lstm.errors import failure_reason
from regional_lstm.training.checkpoint import newest_complete, read_state
from regional_lstm.training.fit import WorkerContext, fit
from regional_lstm.training.plan import TrainingPlan

if TYPE_CHECKING:  # the workers import this module, and MLflow costs each ~80 MB
    from regional_lstm.tracking.runs import TrackedRun

logger = logging.getLogger(__name__)

WORKER_NODES_TAG = "regional_lstm.worker_nodes"


def _as_worker(threads: int) -> None:
    """What a training process sets first: it reads Zarr itself (no dask threads) and runs
    ``threads`` torch threads."""
    import dask

    dask.config.set(scheduler="synchronous")
    torch.set_num_threads(threads)


def _worker_loop(loop_config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: wire Ray's rank, DDP and checkpoints into ``fit``."""
    _as_worker(loop_config["threads_per_worker"])
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # per-report lines drown ours
    plan: TrainingPlan = ray.get(loop_config["plan"])
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    resume_dir = _resume_folder(Path(loop_config["run_dir"]))

    def all_gather(value: Any) -> list[Any]:
        if world_size == 1:
            return [value]
        gathered: list[Any] = [None] * world_size
        dist.all_gather_object(gathered, value)
        return gathered

    node = ray.get_runtime_context().get_node_id()
    nodes = all_gather(node)

    def report(metrics: dict[str, float], folder: Path | None) -> None:
        checkpoint = Checkpoint.from_directory(folder) if folder else None
        ray.train.report({**metrics, NODE_KEY: node}, checkpoint=checkpoint)

    ctx = WorkerContext(
        rank=rank,
        world_size=world_size,
        device=ray.train.torch.get_device(),
        all_gather=all_gather,
        wrap_model=ray.train.torch.prepare_model,
        report=report,
        resume_from=resume_dir,
    )
    try:
        with _rank_log(Path(loop_config["log_file"]), rank):
            logger.info("Ray Train workers (rank: node id): %s", json.dumps(dict(enumerate(nodes))))
            fit(plan, ctx)
    finally:
        if resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)


def _resume_folder(run_dir: Path) -> Path | None:
    """A private copy of the checkpoint to resume from: Ray's latest, or a newer whole one the
    run left in its storage folder (`newest_complete`); None for a fresh start."""
    checkpoint = ray.train.get_checkpoint()
    with checkpoint.as_directory() if checkpoint else nullcontext() as registered:
        candidates = [Path(registered)] if registered else []
        if run_dir.is_dir():
            candidates += run_dir.glob("checkpoint_*")
        found = newest_complete(candidates)
        if found is None:
            return None
        resume_dir = Path(tempfile.mkdtemp(prefix="regional-lstm-resume-"))
        shutil.copytree(found[0], resume_dir, dirs_exist_ok=True)
    return resume_dir


@contextmanager
def _rank_log(path: Path, rank: int) -> Iterator[None]:
    """Rank 0's messages go to the run's log file (which the driver follows) and its stdout;
    the other ranks keep only warnings, so each epoch line appears once."""
    package = logging.getLogger(logs.ROOT)
    handlers: list[logging.Handler] = []
    if rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(path), logging.StreamHandler(sys.stdout)]
    previous = package.level, package.propagate
    package.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    package.propagate = rank != 0
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(message)s"))
        package.addHandler(handler)
    try:
        yield
    finally:
        for handler in handlers:
            package.removeHandler(handler)
            handler.close()
        package.setLevel(previous[0])
        package.propagate = previous[1]


@contextmanager
def follow(
    path: Path,
    handle: Callable[[str], None] = logger.info,
    interval_s: float = 0.5,
    from_start: bool = False,
) -> Iterator[None]:
    """Pass each line appended to ``path`` while the block runs to ``handle`` (default: log
    it, as for the workers' epoch lines); ``from_start``, the lines already there too."""
    start = path.stat().st_size if path.exists() and not from_start else 0
    stop = threading.Event()

    def pump() -> None:
        position = start
        while True:
            finished = stop.wait(interval_s)
            if path.exists():
                with path.open() as reading:
                    reading.seek(position)
                    chunk = reading.read()
                    complete = chunk[: chunk.rfind("\n") + 1]
                    position += len(complete.encode())
                for line in complete.splitlines():
                    handle(line)
            if finished:
                return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class EpochsToMlflow:
    """Logs each line of `EpochsToFile` to the MLflow run: metrics at the epoch's step, and
    once the ranks' nodes as the tag ``regional_lstm.worker_nodes`` (a JSON list by rank).

    It reads the file from its start and skips the epochs the run has already: a resumed run
    logs the epochs its killed launch saved but had not yet logged, and none twice.
    """

    def __init__(self, tracked: TrackedRun | None, epochs_file: Path) -> None:
        self.tracked, self.nodes_tagged, self.epochs_file = tracked, False, epochs_file
        self.logged = _last_epoch_logged(tracked) if tracked is not None else 0

    def backfill(self, history: list[dict[str, float]]) -> None:
        """Log the epochs of a checkpoint's history the run does not have: a worker killed just
        after saving one had its report, and so its line in the epochs file, go with it."""
        for metrics in history:
            if self.tracked is not None and metrics["epoch"] > self.logged:
                self(json.dumps(metrics))

    def __call__(self, line: str) -> None:
        if self.tracked is None:  # none asked for, or the store stopped answering
            return
        metrics = json.loads(line)
        epoch, nodes = int(metrics.pop("epoch")), metrics.pop("worker_nodes", None)
        if epoch <= self.logged:
            return
        try:
            if nodes and not self.nodes_tagged:
                self.tracked.set_tags({WORKER_NODES_TAG: json.dumps(nodes)})
                self.nodes_tagged = True
            self.tracked.log_metrics(metrics, step=epoch)
            self.logged = epoch
        except Exception as error:  # training goes on; the local outputs are complete anyway
            logger.warning(
                "MLflow: epoch %d's metrics were not logged (%s); no more epochs will be: they "
                "are in %s",
                epoch,
                failure_reason(error),
                self.epochs_file,
            )
            self.tracked = None


def _last_epoch_logged(tracked: TrackedRun) -> int:
    """The last epoch whose metrics the run has (0 for a new run)."""
    history = tracked.client.get_metric_history(tracked.run_id, "val_loss")
    return max((metric.step for metric in history), default=0)


def train_here(
    plan: TrainingPlan,
    *,
    storage_path: Path,
    run_name: str,
    log_file: Path,
    tracked: TrackedRun | None,
    use_gpu: bool,
    report: Callable[[dict[str, float]], None],
) -> Path:
    """Fit ``plan`` as one worker in this process (a Tune trial's own); returns the folder of
    the last checkpoint, and passes each epoch's metrics to ``report``.

    What a one-worker Ray Train run would do, with the same folders (checkpoints, epochs file,
    log file, so a relaunch resumes either way) and the same MLflow logging, without the
    controller, worker and helper actors that run would start, each a fresh process importing
    Ray Train and torch (~17 s of CPU per run on 2 cores). A trial whose process dies is
    Tune's to restart (`FailureConfig`), as a Train run restarts its worker group.
    """
    run_dir = storage_path.absolute() / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    for partial in run_dir.glob(".checkpoint-*"):  # one a killed process was still copying
        shutil.rmtree(partial, ignore_errors=True)
    epochs = run_dir / "epoch_metrics.jsonl"
    to_mlflow = EpochsToMlflow(tracked, epochs)
    resumed = run_checkpoint(run_dir)
    if resumed is not None:
        to_mlflow.backfill(read_state(resumed[0])["history"])
    last = [resumed[0] if resumed else None]
    node = ray.get_runtime_context().get_node_id()

    def keep(metrics: dict[str, float], folder: Path | None) -> None:
        if folder is not None:  # named as Ray Train names its checkpoints, moved in whole
            staging = Path(tempfile.mkdtemp(dir=run_dir, prefix=".checkpoint-"))
            shutil.copytree(folder, staging, dirs_exist_ok=True)
            stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S.%f")
            last[0] = run_dir / f"checkpoint_{stamp}"
            replace_dir(staging, last[0])
        line = json.dumps({**{k: float(v) for k, v in metrics.items()}, "worker_nodes": [node]})
        with epochs.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        to_mlflow(line)
        report(metrics)

    _as_worker(threads=1)
    device = torch.device("cuda" if use_gpu else "cpu")  # Ray gives the trial its own GPU
    ctx = WorkerContext(device=device, report=keep, resume_from=resumed[0] if resumed else None)
    with _rank_log(log_file, rank=0):
        logger.info("Training in this process, on Ray node %s", node)
        fit(plan, ctx)
    if last[0] is None:
        raise RuntimeError(f"training run {run_name} finished without a checkpoint")
    return last[0]


def train_on_ray(
    plan: TrainingPlan,
    *,
    storage_path: Path,
    run_name: str,
    log_file: Path,
    tracked: TrackedRun | None = None,
    num_workers: int,
    use_gpu: bool,
    max_failures: int = 0,
    callbacks: Sequence[Any] = (),
    cpus_per_worker: float = 1.0,
) -> Checkpoint:
    """Fit ``plan`` on ``num_workers`` Ray workers; returns the last checkpoint.

    Relaunching with the same ``storage_path`` and ``run_name`` resumes from that run's last
    checkpoint (Ray Train restores it and ``fit`` continues from its epoch).
    """
    lean = embedded() and not use_gpu
    epochs = storage_path.absolute() / run_name / "epoch_metrics.jsonl"
    epochs.parent.mkdir(parents=True, exist_ok=True)
    trainer = (LocalTorchTrainer if lean else ClusterTorchTrainer)(
        _worker_loop,
        train_loop_config={
            # By reference: the controller unpickles this config, and the plan's classes would
            # import torch and pandas there; the workers fetch it from the object store.
            "plan": ray.put(plan),
            "threads_per_worker": 1,
            "log_file": str(log_file),
            "run_dir": str(epochs.parent),
        },
        scaling_config=ScalingConfig(
            num_workers=num_workers,
            use_gpu=use_gpu,
            resources_per_worker={"CPU": cpus_per_worker},
        ),
        run_config=RunConfig(
            name=run_name,
            storage_path=str(storage_path.absolute()),
            failure_config=FailureConfig(max_failures=max_failures),
            callbacks=[*callbacks, *([EpochsToFile(epochs)] if tracked else [])],
        ),
    )
    to_mlflow = EpochsToMlflow(tracked, epochs)
    if tracked is not None and (resumed := run_checkpoint(epochs.parent)) is not None:
        to_mlflow.backfill(read_state(resumed[0])["history"])
    try:
        with follow(log_file), follow(epochs, to_mlflow, from_start=True):
            result = trainer.fit()
    except WorkerGroupError as error:  # a page of actor metadata: one line, and how to resume
        raise explain(error, epochs.parent, max_failures) from None
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {run_name} finished without a checkpoint")
    return result.checkpoint
