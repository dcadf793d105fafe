"""A user's error raised on a Ray worker, brought back as the one line it was.

Ray wraps what a worker raised: a task's error returns as a `RayTaskError` that is also an
instance of the original class but whose text is the worker's whole traceback; Ray Train
gathers its workers' errors by rank into a `WorkerGroupError` (or a `ControllerError`), and
Tune keeps a trial's as its result's error. `user_error` finds the `RegionalLSTMError` inside
(a damaged store chunk read by a worker, a refused model file), so the CLI prints its line:
for prediction tasks and Tune trials (ensemble members, PUB folds, sweeps); a Train run's own
failures are explained by `failures.explain`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ray.exceptions import RayTaskError

from regional_lstm.errors import RegionalLSTMError


def user_error(error: BaseException | None) -> RegionalLSTMError | None:
    """The `RegionalLSTMError` that caused ``error`` on any worker, or None if none did."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, RayTaskError):  # before the check below: it may be one too
            pending.append(current.cause)
            continue
        if isinstance(current, RegionalLSTMError):
            return current
        pending.extend(getattr(current, "worker_failures", {}).values())  # Ray Train, by rank
        # Ray Train's controller error, a task's cause, a Train worker's own exception
        causes = ("controller_failure", "cause", "_base_exc")
        pending.extend(getattr(current, name, None) for name in causes)
        pending.extend((current.__cause__, current.__context__))
    return None


@contextmanager
def user_errors() -> Iterator[None]:
    """Inside this block, a `RegionalLSTMError` raised on a worker leaves it as itself."""
    try:
        yield
    except Exception as error:
        found = user_error(error)
        if found is None or found is error:
            raise
        raise found from None
