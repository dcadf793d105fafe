"""The CLI's cluster commands: `submit` an experiment as a Ray Job, and `job status|logs|stop`.

Registered on the main app by `regional_lstm.cli`; kept apart so each module stays short.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)


AddressOption = Annotated[
    str,
    typer.Option(
        "--address", envvar="RAY_DASHBOARD_ADDRESS", help="The cluster's Job API: http://HEAD:8265."
    ),
]


def submit(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with SYMFLUENCE LSTM_* keys.")],
    address: AddressOption,
    verb: Annotated[
        str, typer.Option(help="What the job runs: run, train, tune, ensemble, pub or transfer.")
    ] = "run",
    wait: Annotated[
        bool, typer.Option(help="Stream the job's output; exit with its status.")
    ] = False,
    resume: Annotated[
        bool, typer.Option(help="With --verb tune: continue the sweep a stopped job left.")
    ] = False,
) -> None:
    """Run an experiment on a Ray cluster as a Ray Job; prints the job id."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.submit import submit as submit_workflow

    def write(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    job_id, state = submit_workflow(
        load_config(config), verb, address, wait=wait, write=write, resume=resume
    )
    err.print(f"job {job_id}" + (f": {state}" if state else ""), markup=False)
    if state is not None and state != "SUCCEEDED":
        sys.exit(1)


jobs = typer.Typer(
    help="Ray Jobs submitted with 'submit': status, logs, stop.", no_args_is_help=True
)
JobId = Annotated[str, typer.Argument(help="The id 'submit' printed.")]


@jobs.command("status")
def job_status(job_id: JobId, address: AddressOption) -> None:
    """Print the job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    from regional_lstm.workflows.submit import job_status as status

    print(status(address, job_id))


@jobs.command("logs")
def job_logs(job_id: JobId, address: AddressOption) -> None:
    """Print what the job's driver has written so far."""
    from regional_lstm.workflows.submit import job_logs as logs

    sys.stdout.write(logs(address, job_id))


@jobs.command("stop")
def job_stop(job_id: JobId, address: AddressOption) -> None:
    """Stop the job."""
    from regional_lstm.workflows.submit import job_stop as stop

    stopped = stop(address, job_id)
    err.print(f"job {job_id}: {'stopping' if stopped else 'had already finished'}", markup=False)
