"""Experiments as Ray Jobs: submit one to a cluster's Job API, follow it, stop it.

The config is checked here, then written with every path resolved into a fresh folder that
Ray ships as the job's working directory; the job runs ``regional-lstm VERB experiment.yaml``
on the cluster's head with the toolkit the cluster has installed, so its paths (DATA_STORE,
PROJECT_DIR) must name what the cluster sees (shared storage or, with issue 11, URLs).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from ray.job_submission import JobStatus, JobSubmissionClient

from regional_lstm.config import Config
from regional_lstm.distributed.cluster import job_environment
from regional_lstm.errors import ClusterError

VERBS = ("run", "train", "tune", "ensemble", "pub", "transfer")
CONFIG_NAME = "experiment.yaml"
# What the Job API answers while the head's job agent is still starting (seconds after
# `ray start --head` or `ray up`); submit waits that long for it.
NO_AGENT_YET = "No available agent to submit job"
AGENT_WAIT_S = 60.0

logger = logging.getLogger(__name__)


def client(address: str) -> JobSubmissionClient:
    """A Job API client of the cluster whose dashboard is at ``address`` (http://HEAD:8265)."""
    # The SDK logs each upload and socket close at INFO with Ray's own handler.
    logging.getLogger("ray.dashboard").setLevel(logging.WARNING)
    try:
        return JobSubmissionClient(address)
    except Exception as error:  # connection refused, wrong port, not a Ray dashboard, ...
        raise ClusterError(f"{address}: no Ray Job API here ({_first_line(error)})") from None


def submit(config: Config, verb: str, address: str, *, resume: bool = False) -> str:
    """Submit ``verb`` of ``config`` as a Ray Job; returns its id. ``resume`` continues the
    interrupted sweep of a ``tune`` job (the other verbs resume on their own)."""
    if verb not in VERBS:
        raise ClusterError(f"--verb {verb!r}: choose one of {', '.join(VERBS)}")
    if resume and verb != "tune":
        raise ClusterError(
            f"--resume continues a sweep (--verb tune); a {verb} job resubmitted as it was "
            "resumes on its own"
        )
    jobs = client(address)
    if config.to_yaml_dict() != config.to_yaml_dict(redacted=False):
        logger.warning(
            "secrets in STORAGE_OPTIONS or a URL's password stay on this machine; the cluster's "
            "nodes use their own credentials (environment, instance profile, "
            "MLFLOW_TRACKING_USERNAME/PASSWORD)"
        )
    with tempfile.TemporaryDirectory(prefix="regional-lstm-job-") as folder:
        path = Path(folder) / CONFIG_NAME
        path.write_text(yaml.safe_dump(config.to_yaml_dict(), sort_keys=False), encoding="utf-8")
        environment = job_environment() | {"working_dir": folder}
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                return jobs.submit_job(
                    entrypoint=_entrypoint(verb, resume),
                    runtime_env=environment,
                    metadata={
                        "regional_lstm.verb": verb,
                        "regional_lstm.domain": config.DOMAIN_NAME,
                    },
                )
            except Exception as error:
                reason = _first_line(error)
                if NO_AGENT_YET in reason and time.monotonic() < deadline:
                    time.sleep(1.0)  # a head just started: its job agent comes up shortly
                    continue
                raise ClusterError(f"{address}: the job was not accepted ({reason})") from None


def _entrypoint(verb: str, resume: bool) -> str:
    """The job's shell command: run from a folder of its own on the head, not from the
    job's working directory, which Ray removes once the job's Train workers have exited
    (the driver would lose its cwd mid-run; MLflow's model logging needs one)."""
    command = f"regional-lstm {verb} {CONFIG_NAME}" + (" --resume" if resume else "")
    return (
        f'dir=$(mktemp -d) && cp {CONFIG_NAME} "$dir" && cd "$dir" && '
        f'{command}; code=$?; rm -rf "$dir"; exit $code'
    )


def status(address: str, job_id: str) -> JobStatus:
    """The job's state: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    return _ask(address, job_id, JobSubmissionClient.get_job_status)


def logs(address: str, job_id: str) -> str:
    """Everything the job's driver has printed so far."""
    return _ask(address, job_id, JobSubmissionClient.get_job_logs)


def stop(address: str, job_id: str) -> bool:
    """Ask the job to stop; False when it had already finished."""
    return _ask(address, job_id, JobSubmissionClient.stop_job)


def _ask(address: str, job_id: str, call: Callable[[JobSubmissionClient, str], Any]) -> Any:
    """``call`` on the cluster's Job API for ``job_id``; an unknown job is one line."""
    jobs = client(address)
    try:
        return call(jobs, job_id)
    except Exception as error:
        raise ClusterError(f"{address}: no job {job_id!r} ({_first_line(error)})") from None


def follow(address: str, job_id: str, write: Callable[[str], None]) -> JobStatus:
    """Pass the job's output to ``write`` as it comes, until the job ends; its final state."""
    jobs = client(address)

    async def tail() -> None:
        async for chunk in jobs.tail_job_logs(job_id):
            write(chunk)

    asyncio.run(tail())
    return jobs.get_job_status(job_id)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
