"""Progress bars on long work (ingest, synth, evaluation, sweeps), drawn only on a terminal.

Library code wraps its loops in :func:`track` or :func:`progress`; when stderr is not a terminal
(a job log, a pipe, CI, a Ray worker) nothing is drawn and the loop runs as it would without.
``REGIONAL_LSTM_PROGRESS=0`` turns the bars off on a terminal too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
Advance = Callable[..., None]


def _enabled(console: Console) -> bool:
    return console.is_terminal and os.environ.get("REGIONAL_LSTM_PROGRESS", "1") != "0"


@contextmanager
def progress(total: int | None, description: str) -> Iterator[Advance]:
    """A bar over ``total`` steps; yields ``advance(steps=1, item="")`` to call per step."""
    console = Console(stderr=True)
    if not _enabled(console):
        yield lambda steps=1, item="": None
        return
    columns = [
        TextColumn(description),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total, item="")

        def advance(steps: int = 1, item: object = "") -> None:
            bar.update(task, advance=steps, item=str(item))

        yield advance


def track(items: Sequence[T], description: str) -> Iterator[T]:
    """Iterate over ``items`` with a bar of ``len(items)`` steps."""
    with progress(len(items), description) as advance:
        for item in items:
            yield item
            advance()
