"""What the Ray Train controller unpickles on the embedded local Ray, without torch.

The Train controller, an actor of its own, unpickles the trainer's backend config and scaling
policy, importing the modules that define them. Ray's TorchConfig lives in a module that
imports torch, so the controller, which never computes, would carry torch and all it loads
(~300 MB of a 2-core machine's memory); so would a policy defined beside the worker loop.
Here: a gloo backend doing the same CPU setup (a process group over TCP from rank 0's
address) with torch imported only in the workers, and a fixed scaling policy. The backend
serves every CPU run, on one machine or many (`trainers.LocalTorchTrainer`,
`trainers.ClusterTorchTrainer`); GPU runs keep Ray's TorchConfig (NCCL). The policy serves the
embedded Ray, which has nothing to scale.
This module must import neither torch nor the rest of the package (a test watches).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

import ray
from ray.train.backend import Backend, BackendConfig
from ray.train.v2._internal.execution.scaling_policy import FixedScalingPolicy
from ray.train.v2._internal.util import TrainingFramework

logger = logging.getLogger(__name__)


@dataclass
class GlooConfig(BackendConfig):
    """Ray Train's backend settings: how long a collective may wait for the others."""

    timeout_s: int = 1800

    @property
    def backend_cls(self) -> type[Backend]:
        return GlooBackend

    @property
    def framework(self) -> TrainingFramework:
        return TrainingFramework.TORCH


class GlooBackend(Backend):
    """Joins the worker group into one gloo process group; leaves it at shutdown."""

    def on_start(self, worker_group, backend_config: GlooConfig) -> None:
        address, port = worker_group.execute_single(0, _address_and_free_port)
        url = f"tcp://[{address}]:{port}" if ":" in address else f"tcp://{address}:{port}"
        nodes = worker_group.execute(_node_id)
        size = len(worker_group)
        joins = [
            worker_group.execute_single_async(
                rank,
                _join,
                world_rank=rank,
                local_rank=nodes[:rank].count(nodes[rank]),
                size=size,
                url=url,
                timeout_s=backend_config.timeout_s,
            )
            for rank in range(size)
        ]
        ray.get(joins)

    def on_shutdown(self, worker_group, backend_config: GlooConfig) -> None:
        worker_group.execute(_leave)


def _address_and_free_port() -> tuple[str, int]:
    """This worker's node address and a port free on it (rank 0 hosts the rendezvous)."""
    address = ray.util.get_node_ip_address()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return address, int(probe.getsockname()[1])


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _join(world_rank: int, local_rank: int, size: int, url: str, timeout_s: int) -> None:
    """In a worker: the process group, and the variables torch.distributed users expect
    (``local_rank``: the worker's rank among those on its node)."""
    import torch.distributed as dist

    rank = str(world_rank)
    os.environ.update({"RANK": rank, "WORLD_SIZE": str(size), "LOCAL_RANK": str(local_rank)})
    dist.init_process_group(
        "gloo",
        init_method=url,
        rank=world_rank,
        world_size=size,
        timeout=timedelta(seconds=timeout_s),
    )


def _leave() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


class NoAutoscalerPolicy(FixedScalingPolicy):
    """A fixed number of workers, without resource requests to an autoscaling coordinator."""

    def after_controller_start(self, train_run_context) -> None:
        pass

    def _maybe_send_resource_request(self) -> None:
        pass

    def _send_resource_request(self) -> None:
        pass
