"""Ray Train: one TorchTrainer whose workers run ``training.fit`` under DDP."""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from ray.train import Checkpoint, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from regional_lstm import logs
from regional_lstm.distributed.callbacks import EpochsToMlflow
from regional_lstm.distributed.cluster import embedded_without_dashboard
from regional_lstm.training.fit import WorkerContext, fit
from regional_lstm.training.plan import TrainingPlan

if TYPE_CHECKING:  # the workers import this module, and MLflow costs each ~80 MB
    from regional_lstm.tracking.runs import TrackedRun

logger = logging.getLogger(__name__)


def _worker_loop(loop_config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: wire Ray's rank, DDP and checkpoints into ``fit``."""
    import dask

    dask.config.set(scheduler="synchronous")  # workers read Zarr themselves; no dask threads
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # per-report lines drown ours
    torch.set_num_threads(loop_config["threads_per_worker"])
    plan: TrainingPlan = loop_config["plan"]
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    resume_dir = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        resume_dir = Path(tempfile.mkdtemp(prefix="regional-lstm-resume-"))
        with checkpoint.as_directory() as folder:
            shutil.copytree(folder, resume_dir, dirs_exist_ok=True)

    def all_gather(value: Any) -> list[Any]:
        if world_size == 1:
            return [value]
        gathered: list[Any] = [None] * world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def report(metrics: dict[str, float], folder: Path | None) -> None:
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(folder) if folder else None)

    ctx = WorkerContext(
        rank=rank,
        world_size=world_size,
        device=ray.train.torch.get_device(),
        all_gather=all_gather,
        wrap_model=ray.train.torch.prepare_model,
        report=report,
        resume_from=resume_dir,
    )
    with _rank_log(Path(loop_config["log_file"]), rank):
        fit(plan, ctx)


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
def follow(path: Path, interval_s: float = 0.5) -> Iterator[None]:
    """Log the lines appended to ``path`` while the block runs (the workers' epoch lines)."""
    start = path.stat().st_size if path.exists() else 0
    stop = threading.Event()

    def pump() -> None:
        position = start
        while True:
            finished = stop.wait(interval_s)
            if path.exists():
                with path.open() as handle:
                    handle.seek(position)
                    chunk = handle.read()
                    complete = chunk[: chunk.rfind("\n") + 1]
                    position += len(complete.encode())
                for line in complete.splitlines():
                    logger.info(line)
            if finished:
                return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class LocalTorchTrainer(TorchTrainer):
    """A TorchTrainer for a Ray this process started on its own machine without a dashboard.

    It goes without two of Ray Train's default actors (~120 MB each on a 2-core machine): the
    placement-group cleaner, which frees a run's reservation if the controller dies
    ungracefully (here the whole Ray stops with this process; and without the dashboard's
    State API it would take the live controller for dead and remove the group mid-run), and
    the dataset manager, which only shards Ray Datasets (a run here passes none).
    Ray Train offers no switch for either, so the default callbacks are filtered by type; the
    test of the process tree (tests/ray/test_lean_session.py) fails if Ray renames them.
    """

    def _create_default_callbacks(self) -> list:
        from ray.train.v2._internal.callbacks import DatasetsCallback
        from ray.train.v2._internal.callbacks.placement_group_callback import (
            PlacementGroupCleanerCallback,
        )

        dropped = (PlacementGroupCleanerCallback,) + (() if self.datasets else (DatasetsCallback,))
        return [c for c in super()._create_default_callbacks() if not isinstance(c, dropped)]


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
    trainer_class = LocalTorchTrainer if embedded_without_dashboard() else TorchTrainer
    trainer = trainer_class(
        _worker_loop,
        train_loop_config={
            "plan": plan,
            "threads_per_worker": 1,
            "log_file": str(log_file),
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
            callbacks=[*callbacks, *([EpochsToMlflow(tracked)] if tracked else [])],
        ),
    )
    with follow(log_file):
        result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train run {run_name} finished without a checkpoint")
    return result.checkpoint
