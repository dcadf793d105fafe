"""Basin ids are data, not paths: the one rule an id must pass before it names a file or folder.

An id comes from a basin list, a file name or a store's basin coordinate, and ends up in file
names (``<basin>_LSTM_predictions.csv``, a source file's ``{basin}`` pattern). Only letters,
digits, ``_``, ``.`` and ``-`` can do that without leaving the folder (``../x``, ``/etc/x``,
``a/b``) or breaking a line (NUL, newline); every real dataset's ids are such names
(``01013500``, ``camelsch_4001``, ``Au_Saumon``).
"""

from __future__ import annotations

import re

from regional_lstm.errors import RegionalLSTMError, cut

SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def id_problem(basin: object) -> str | None:
    """Why ``basin`` cannot be part of a file name in any folder, or None when it can."""
    if isinstance(basin, str) and SAFE_ID.fullmatch(basin) and basin not in (".", ".."):
        return None
    return (
        f"basin id {cut(repr(basin))} cannot be part of a file name "
        "(letters, digits, '_', '.' and '-', at most 200)"
    )


def check_basin_id(basin: str, where: str, error: type[RegionalLSTMError]) -> str:
    """``basin``, or ``error``: ``<where>: basin id '../x' cannot be part of a file name ...``."""
    problem = id_problem(basin)
    if problem is not None:
        raise error(f"{where}: {problem}")
    return basin
