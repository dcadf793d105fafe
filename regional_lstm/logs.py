"""Where the toolkit's messages go: one ``logging`` logger per module under ``regional_lstm``.

Library code only calls ``logging.getLogger(__name__)``; the CLI calls :func:`configure` once so
our lines reach stdout (rich on a terminal, plain text in a log or a pipe) and third-party chatter
(MLflow's database set-up, alembic migrations, Ray's start-up banner) stays out of the console.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from regional_lstm.locations import redact_passwords

ROOT = "regional_lstm"
QUIET = (
    *("mlflow", "alembic", "ray", "urllib3", "filelock", "fsspec", "numcodecs", "matplotlib"),
    *("botocore", "aiobotocore", "s3fs"),  # "Found credentials in environment variables."
)


class PlainFormatter(logging.Formatter):
    """The message alone; warnings and errors say so in front."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname.lower()}: {message}"
        return message


def shortlist(items: Sequence[str], limit: int = 10) -> str:
    """``items`` comma-separated, the first ``limit`` of them and how many more: a message about
    thousands of basins stays one readable line."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _without_passwords(record: logging.LogRecord) -> bool:
    """A record's message with URL passwords redacted: no credential reaches a console or log."""
    message = record.getMessage()
    if "@" in message:
        record.msg, record.args = redact_passwords(message), None
    return True


def configure(level: int = logging.INFO) -> None:
    """Send our log records to stdout and quieten third-party loggers (idempotent)."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=Console(soft_wrap=True),
            show_time=False,
            show_path=False,
            markup=False,
            rich_tracebacks=False,
        )
    else:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(PlainFormatter())
    handler.addFilter(_without_passwords)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    quiet_third_party()


def quiet_third_party() -> None:
    """Third-party loggers at WARNING, and their start-up notices out of the console."""
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    pyfunc = logging.getLogger("mlflow.pyfunc")
    if _no_signature_notice not in pyfunc.filters:
        pyfunc.addFilter(_no_signature_notice)


def _no_signature_notice(record: logging.LogRecord) -> bool:
    """False for MLflow's log_model warning that our DataFrame-typed pyfunc has no signature.

    It has none by design: the columns a model takes follow its config; its sidecar names them.
    """
    return "cannot be used to infer model signature" not in record.getMessage()
