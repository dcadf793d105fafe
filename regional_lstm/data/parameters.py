"""A file of per-basin model parameters (a calibration from elsewhere), read and checked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.basin_ids import check_basin_id
from regional_lstm.errors import ConfigError


def read_parameters(
    path: str | Path, required: Sequence[str], optional: Sequence[str] = ()
) -> pd.DataFrame:
    """The table as float64, indexed by basin id, with the columns of ``required`` and any of
    ``optional`` (initial stores) the file has.

    A ``basin`` column and one column per parameter, named as the model's documentation names
    them. A column the model does not know, a missing parameter, a repeated basin or a cell
    that is not a finite number is a one-line ConfigError naming the file and the cell.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, comment="#")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such parameter file") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ConfigError(f"{path}: not a readable CSV table ({error})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if "basin" not in table.columns:
        raise ConfigError(f"{path}: no 'basin' column (columns: {', '.join(table.columns)})")
    known = [*required, *optional]
    unknown = [c for c in table.columns if c != "basin" and c not in known]
    if unknown:
        raise ConfigError(
            f"{path}: column {unknown[0]!r} is not a parameter of this model "
            f"(parameters: {', '.join(required)}; initial stores: {', '.join(optional)})"
        )
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ConfigError(f"{path}: no column for parameter {missing[0]!r}")
    basins = [
        check_basin_id(raw.strip(), f"{path}, line {line}", ConfigError)
        for line, raw in enumerate(table["basin"], start=2)
    ]
    repeated = pd.Index(basins)[pd.Index(basins).duplicated()]
    if len(repeated):
        raise ConfigError(f"{path}: basin {repeated[0]!r} has two rows")
    values = table.drop(columns="basin").apply(pd.to_numeric, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(np.float64))
    if bad.any():
        row, column = np.argwhere(bad)[0]
        cell = table.iat[row, table.columns.get_loc(values.columns[column])]
        raise ConfigError(
            f"{path}, line {row + 2}: {values.columns[column]} of basin {basins[row]!r} is "
            f"{cell!r}, not a finite number"
        )
    return values.set_axis(pd.Index(basins, name="basin")).astype(np.float64)
