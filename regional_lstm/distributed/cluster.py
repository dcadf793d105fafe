"""Join a Ray cluster (RAY_ADDRESS) or start an embedded local one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ray

from regional_lstm.allocator import ENVIRONMENT as ALLOCATOR_ENVIRONMENT
from regional_lstm.config import Config

# Whether this process started the running Ray itself, on this machine (see `ray_session`): the
# Ray stops with it, and Ray Train runs without its placement-group cleaner.
_embedded = False
# Whether `ray_session` joined a running cluster at an address (config or RAY_ADDRESS).
_joined = False
CLUSTER_MAX_FAILURES = 2
# Set by Ray for a Ray Job's entrypoint: the job's runtime environment, which ray.init must
# not be given again.
IN_A_RAY_JOB = "RAY_JOB_CONFIG_JSON_ENV_VAR"


@contextmanager
def ray_session(
    address: str | None, num_cpus: int | None = None, *, dashboard: bool = False
) -> Iterator[None]:
    """Use the running Ray if any; else join ``address`` or start a local Ray, shut down after.

    A local Ray gets a dashboard only when ``dashboard`` asks for it: Tune sweeps need its
    State API (see `local_ray_options`); plain training and evaluation do not, and go without
    its dozen processes (~0.5 GB).
    """
    global _embedded, _joined
    if ray.is_initialized():
        yield
        return
    # A Ray Job's entrypoint (`regional-lstm submit`) finds its cluster in RAY_ADDRESS.
    address = address or os.environ.get("RAY_ADDRESS") or None
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if not address:
        kwargs = local_ray_options(num_cpus, dashboard=dashboard)
    elif IN_A_RAY_JOB in os.environ:  # `submit` gave the job this runtime env already
        kwargs = {"address": address}
    else:
        kwargs = {"address": address, "runtime_env": job_environment()}
    # The driver reports the epochs itself (the Train controller's file, on the driver's node)
    # and a worker's failure reaches it as an exception, so Ray's forwarded worker output
    # (internal notices, each epoch a second time) stays in Ray's logs, on a cluster too.
    ray.init(**kwargs, log_to_driver=False, configure_logging=False)
    _embedded = not address
    _joined = bool(address)
    if IN_A_RAY_JOB in os.environ:
        yield  # a job's driver stays connected for its life: the cluster outlives the job
        return
    try:
        yield
    finally:
        _embedded = _joined = False
        ray.shutdown()


def max_failures(configured: int | None) -> int:
    """Ray Train's worker-group restarts: as configured, else 2 on a joined cluster (nodes come
    and go) and 0 on a local Ray."""
    if configured is not None:
        return configured
    return CLUSTER_MAX_FAILURES if _joined else 0


def with_restarts(config: Config) -> Config:
    """``config`` with RAY_MAX_FAILURES decided (`max_failures`), for runs started in other
    processes (Tune trials): only the driver knows whether it joined a cluster."""
    return config.with_overrides(RAY_MAX_FAILURES=max_failures(config.RAY_MAX_FAILURES))


def embedded() -> bool:
    """True inside a `ray_session` that started a local Ray (with or without a dashboard)."""
    return _embedded


# How often the Train controller polls its workers (Ray's default 2 s). It collects the epochs'
# reports (and so their checkpoints) on that poll and sees the workers finish on it: at 2 s a
# run's end waited 3-4 s for nothing, and a worker killed up to 2 s after an epoch took that
# epoch's checkpoint with it. A poll is one small RPC per worker.
TRAIN_POLL = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5"}


def job_environment() -> dict[str, Any]:
    """The runtime environment of this toolkit's Ray jobs: every worker starts with the malloc
    settings of `regional_lstm.allocator` (2x faster CPU training steps), and Train
    controllers poll their workers every `TRAIN_POLL`."""
    return {"env_vars": dict(ALLOCATOR_ENVIRONMENT) | TRAIN_POLL}


def local_ray_options(num_cpus: int | None = None, *, dashboard: bool = True) -> dict[str, Any]:
    """``ray.init`` arguments of the embedded one-machine Ray (the CLI's, and the tests' Ray).

    It goes without what one machine does not use, each a process or a periodic task on cores
    that training needs: the preemption watcher (an actor per training run, for spot nodes),
    Ray Train's and the core workers' Prometheus metrics, and the idle workers Ray starts with
    the driver. Ray Train reads its two switches, and its controllers' poll (`TRAIN_POLL`),
    from the driver's environment, set here.
    """
    for name in ("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER", "RAY_TRAIN_METRICS_ENABLED"):
        os.environ.setdefault(name, "0")
    for name, value in TRAIN_POLL.items():
        os.environ.setdefault(name, value)
    return {
        # A new Ray of this process's own, even where one is already running on the machine
        # (`ray start`, another job): without it ray.init joins that one.
        "address": "local",
        "num_cpus": num_cpus,
        # The dashboard serves the State API, which Ray Train's placement-group cleaner polls:
        # without it the cleaner takes the controller for dead and removes the run's placement
        # group, killing its workers mid-epoch, and a trial stopped early (ASHA) would keep its
        # reservation, so the next trials wait for it forever (both seen on Ray 2.60). Without
        # a dashboard, training runs without the cleaner (`distributed.train`).
        "include_dashboard": dashboard,
        "object_store_memory": 200 * 2**20,
        "runtime_env": job_environment(),
        "_system_config": {
            "enable_metrics_collection": False,
            "prestart_worker_first_driver": False,
        },
    }


def cluster_has_gpu() -> bool:
    """Whether the running Ray cluster offers at least one GPU."""
    return ray.cluster_resources().get("GPU", 0) > 0


def cluster_cpus() -> float:
    """The running Ray cluster's CPUs (1 when it reports none)."""
    return float(ray.cluster_resources().get("CPU", 1.0))
