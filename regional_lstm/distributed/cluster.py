"""Join a Ray cluster (RAY_ADDRESS) or start an embedded local one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray


@contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[None]:
    """Use the running Ray if any; else join ``address`` or start a local Ray, shut down after."""
    if ray.is_initialized():
        yield
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    kwargs = (
        {"address": address}
        if address
        else {
            "num_cpus": num_cpus,
            # The dashboard serves the State API, which Ray Train's placement-group cleaner
            # needs: without it a trial stopped early (ASHA) keeps its workers' reservation,
            # and on a small machine the next trials wait for it forever.
            "include_dashboard": True,
            "object_store_memory": 200 * 2**20,
        }
    )
    # On the embedded local Ray the driver follows the workers' log file itself, so Ray's
    # forwarded worker output (internal notices, duplicated prints) is left in Ray's log folder.
    ray.init(**kwargs, log_to_driver=bool(address), configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def cluster_has_gpu() -> bool:
    """Whether the running Ray cluster offers at least one GPU."""
    return ray.cluster_resources().get("GPU", 0) > 0


def cluster_cpus() -> float:
    """The running Ray cluster's CPUs (1 when it reports none)."""
    return float(ray.cluster_resources().get("CPU", 1.0))
