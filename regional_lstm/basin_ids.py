"""Basin ids and variable names are data, not paths: the rules they pass before naming a file.

An id comes from a basin list, a file name or a store's basin coordinate, and ends up in file
names (``<basin>_LSTM_predictions.csv``, a source file's ``{basin}`` pattern). Only letters,
digits, ``_``, ``.`` and ``-`` can do that without leaving the folder (``../x``, ``/etc/x``,
``a/b``) or breaking a line (NUL, newline); every real dataset's ids are such names
(``01013500``, ``camelsch_4001``, ``Au_Saumon``). A variable's name (a column header) names
its array's folder in a store, so it must be one folder name that Zarr accepts.
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


# A store folder per variable: one path component (no separators, no control characters), not
# hidden or Zarr-reserved ('.', '__'), and short enough for any file system's 255-byte names.
UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]|^[.]|^__")


def check_variable_name(name: object, where: str, error: type[RegionalLSTMError]) -> str:
    """``name``, or ``error``: ``<where>: variable name '...' cannot name an array ...``."""
    if isinstance(name, str) and name and _bytes(name) <= 200 and not UNSAFE_NAME.search(name):
        return name
    raise error(
        f"{where}: variable name {cut(repr(name))} cannot name an array in a store (at most "
        "200 bytes, no '/', '\\' or control characters, not starting with '.' or '__')"
    )


def _bytes(name: str) -> int:
    return len(name.encode("utf-8", "surrogatepass"))
