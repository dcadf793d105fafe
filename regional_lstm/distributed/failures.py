"""A Ray Train run that failed, said in one line: which worker, why, and how to resume.

Ray's `WorkerGroupError` carries, per rank, either the worker's own exception (our
`RegionalLSTMError`s come back as themselves) or a health-check failure when its process
died (SIGKILL, the OOM killer, a lost node), whose text is a page of actor metadata.
"""

from __future__ import annotations

import re
from pathlib import Path

from ray.train import WorkerGroupError

from regional_lstm.distributed.worker_errors import user_error
from regional_lstm.errors import TrainingStopped
from regional_lstm.training.checkpoint import newest_complete

_PID = re.compile(r"\bpid=(\d+)")
_NODE_IP = re.compile(r"\bnode_ip='([^']+)'")


def explain(error: WorkerGroupError, run_dir: Path, max_failures: int) -> Exception:
    """The error to raise for ``error``: a worker's own user error, or a `TrainingStopped`."""
    found = user_error(error)
    if found is not None:
        return found
    failures = sorted(error.worker_failures.items())
    if not failures:
        return TrainingStopped(f"training stopped: {_first_line(str(error))}{_resume(run_dir)}")
    rank, failure = failures[0]
    text = str(failure)
    cause = getattr(failure, "_base_exc", None)
    if cause is not None:  # the worker's code raised: OSError (disk full), a bug, ...
        what = f"Ray Train worker {rank} failed: {type(cause).__name__}: {_first_line(str(cause))}"
    else:
        pid, ip = _PID.search(text), _NODE_IP.search(text)
        where = f" (pid {pid[1]} on {ip[1]})" if pid and ip else ""
        what = f"Ray Train worker {rank}{where} died"
    restarts = f" after {max_failures} restart(s) (RAY_MAX_FAILURES)" if max_failures else ""
    return TrainingStopped(f"training stopped: {what}{restarts}{_resume(run_dir)}")


def _resume(run_dir: Path) -> str:
    """Where a relaunch resumes (`run_checkpoint`)."""
    newest = run_checkpoint(run_dir)
    if newest is None:
        return "; no checkpoint was saved: relaunching the same command starts it again"
    return f"; relaunch the same command to resume from its checkpoint of epoch {newest[1]}"


def run_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    """The newest whole checkpoint a run left in its storage folder, and its epoch."""
    return newest_complete(run_dir.glob("checkpoint_*")) if run_dir.is_dir() else None


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "no reason given"
