"""Ray Train's trainers as this toolkit runs them: the same workers, DDP and checkpoints,
less of what a run here does not use (`LocalTorchTrainer` on a Ray this process started,
`ClusterTorchTrainer` everywhere else)."""

from __future__ import annotations

from ray.train import Result, ScalingConfig
from ray.train.torch import TorchTrainer
from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

from regional_lstm.distributed.backend import GlooConfig, NoAutoscalerPolicy


def _without(callbacks: list, *dropped: type, datasets: bool) -> list:
    """Ray Train's default callbacks less ``dropped`` and, unless the run has Ray Datasets, the
    dataset manager: an actor per run (~1.4 s of CPU) that only shards datasets, and this
    toolkit's workers read the store themselves."""
    if not datasets:
        from ray.train.v2._internal.callbacks import DatasetsCallback

        dropped = (*dropped, DatasetsCallback)
    return [c for c in callbacks if not isinstance(c, dropped)]


class ClusterTorchTrainer(TorchTrainer):
    """Ray's TorchTrainer (placement-group cleaner, autoscaler requests) for clusters, GPUs
    and Tune trials' multi-worker runs, without the dataset manager (`_without`).

    A CPU run's backend is `backend.GlooConfig` instead of Ray's TorchConfig (kept for NCCL on
    GPUs), so the controller does not import torch.
    """

    def __init__(self, train_loop_per_worker, *, scaling_config: ScalingConfig, **kwargs) -> None:
        if scaling_config.use_gpu:
            super().__init__(train_loop_per_worker, scaling_config=scaling_config, **kwargs)
        else:  # what TorchTrainer.__init__ does, with another backend config
            DataParallelTrainer.__init__(
                self,
                train_loop_per_worker,
                backend_config=GlooConfig(),
                scaling_config=scaling_config,
                **kwargs,
            )

    def _create_default_callbacks(self) -> list:
        return _without(super()._create_default_callbacks(), datasets=bool(self.datasets))


class LocalTorchTrainer(DataParallelTrainer):
    """Ray Train on a Ray this process started on its own machine (CPU).

    The same workers, DDP and checkpoints as TorchTrainer, with less around them on a machine
    whose memory is mostly the workers' (each item ~120-300 MB on a 2-core machine):
    - a gloo backend whose controller does not import torch (`distributed.backend`);
    - a fixed scaling policy that asks no autoscaler for nodes, so Ray Train starts no
      autoscaling-coordinator actor (one machine has nothing to scale);
    - none of the placement-group cleaner, which frees a run's reservation if the controller
      dies ungracefully (here the whole Ray stops with this process; and without a
      dashboard's State API it would take the live controller for dead and remove the group
      mid-run); nor the dataset manager (`_without`).
    Ray Train offers no switch for these, so private parts are replaced or filtered by type;
    the test of a local train's process tree (tests/cluster/test_cluster.py) fails if Ray renames
    them.
    """

    def __init__(self, train_loop_per_worker, **kwargs) -> None:
        super().__init__(train_loop_per_worker, backend_config=GlooConfig(), **kwargs)

    def _create_default_callbacks(self) -> list:
        from ray.train.v2._internal.callbacks.placement_group_callback import (
            PlacementGroupCleanerCallback,
        )

        return _without(
            super()._create_default_callbacks(),
            PlacementGroupCleanerCallback,
            datasets=bool(self.datasets),
        )

    def fit(self) -> Result:
        """`DataParallelTrainer.fit` with `NoAutoscalerPolicy` as the scaling policy."""
        from ray.train.v2._internal.execution.failure_handling import create_failure_policy
        from ray.train.v2._internal.util import ObjectRefWrapper

        result = self._initialize_and_run_controller(
            train_fn_ref=ObjectRefWrapper(self._get_train_func()),
            scaling_policy=NoAutoscalerPolicy(self.scaling_config),
            failure_policy=create_failure_policy(self.run_config.failure_config),
            train_run_context=self.train_run_context,
            callbacks=self._create_default_callbacks(),
            validation_config=self.validation_config,
        )
        if result.error:
            raise result.error
        return result
