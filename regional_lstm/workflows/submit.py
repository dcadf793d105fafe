"""`regional-lstm submit` and `regional-lstm job`: experiments as Ray Jobs on a cluster."""

from __future__ import annotations

from collections.abc import Callable

from regional_lstm.config import Config
from regional_lstm.distributed import jobs

VERBS = jobs.VERBS


def submit(
    config: Config,
    verb: str,
    address: str,
    *,
    wait: bool,
    write: Callable[[str], None],
    resume: bool = False,
) -> tuple[str, str | None]:
    """Submit the experiment (``resume``: continue its interrupted sweep); with ``wait``,
    stream its output and return its final state."""
    job_id = jobs.submit(config, verb, address, resume=resume)
    if not wait:
        return job_id, None
    return job_id, jobs.follow(address, job_id, write).value


def job_status(address: str, job_id: str) -> str:
    return jobs.status(address, job_id).value


def job_logs(address: str, job_id: str) -> str:
    return jobs.logs(address, job_id)


def job_stop(address: str, job_id: str) -> bool:
    return jobs.stop(address, job_id)
