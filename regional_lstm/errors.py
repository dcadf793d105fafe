"""User-facing errors: one line that says what went wrong and where."""

from __future__ import annotations

import re

SHOWN_CHARACTERS = 60  # of a value, key, cell or id quoted in a message


def cut(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` cut to ``limit`` characters (ending in "..."), so a message stays one short line
    whatever the value it quotes."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RegionalLSTMError(Exception):
    """An error caused by the user's input (files, config, arguments), not by a bug.

    The CLI prints ``str(error)`` on one line and exits non-zero, without a traceback.
    """


class ConfigError(RegionalLSTMError):
    """The experiment configuration is invalid."""


class IngestError(RegionalLSTMError):
    """A source file or directory cannot be ingested as given."""


class StoreError(RegionalLSTMError):
    """A Zarr store is missing, malformed or would be overwritten."""


class ClusterError(RegionalLSTMError):
    """A Ray cluster or one of its jobs cannot be reached or did not succeed."""


class TrainingStopped(RegionalLSTMError):
    """A training run stopped before its last epoch (a worker died or failed); relaunching the
    same command resumes it from its last checkpoint."""


class TrackingError(RegionalLSTMError):
    """The MLflow tracking store cannot be reached, or stopped answering during a run."""


class ModelFileError(RegionalLSTMError):
    """A model, checkpoint, state or ensemble file is damaged, tampered with or inconsistent.

    Raised instead of loading anything a file would need unpickling for: nothing in it runs.
    """


def failure_reason(error: Exception) -> str:
    """The last, most specific clause of a requests/urllib3 error: "Connection refused"."""
    text = " ".join(str(error).split())
    for marker in ("] ", ": "):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    return re.sub(r"[\"')]+$", "", text) or type(error).__name__
