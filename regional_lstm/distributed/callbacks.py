"""Ray Train callbacks: the Train controller runs them, on the driver's node, not the workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ray.train import UserCallback

if TYPE_CHECKING:
    from regional_lstm.tracking.runs import TrackedRun


class EpochsToMlflow(UserCallback):
    """Logs rank 0's metrics of each epoch to the MLflow run as the epoch is reported.

    Logging from the controller keeps MLflow (about 80 MB with its SQL store) out of the
    training workers, whose memory bounds how many fit on a machine; and the controller runs
    beside the driver, which created the run, so a local tracking store is in reach.
    """

    def __init__(self, tracked: TrackedRun) -> None:
        self.tracked = tracked

    def after_report(self, run_context, metrics, checkpoint) -> None:
        rank0 = metrics[0]
        epoch = int(rank0["epoch"])
        self.tracked.log_metrics({k: v for k, v in rank0.items() if k != "epoch"}, step=epoch)
