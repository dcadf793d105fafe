"""Checks shared by the ingest adapters; each failure is one IngestError naming the file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from regional_lstm.data.store import Variable
from regional_lstm.errors import IngestError

CFS_TO_M3S = 0.028316846592
SECONDS_PER_DAY = 86400.0
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a"})


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a directory, else fail naming what was expected there."""
    if not path.is_dir():
        raise IngestError(f"{path}: {what} directory not found")
    return path


def read_basin_list(path: str | Path) -> list[str]:
    """Basin ids from a text file, one per line; blank lines and '#' comments are ignored."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: basin list file not found")
    basins = []
    for line in path.read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            basins.append(entry)
    if not basins:
        raise IngestError(f"{path}: basin list is empty")
    duplicated = pd.Index(basins)[pd.Index(basins).duplicated()]
    if len(duplicated):
        raise IngestError(f"{path}: basin {duplicated[0]} is listed twice")
    return basins


def select_basins(available: Sequence[str], wanted: Sequence[str] | None, where: Path) -> list[str]:
    """The basins to ingest: all available ones, or the wanted ones if each has files."""
    if wanted is None:
        if not available:
            raise IngestError(f"{where}: no basin files found")
        return sorted(available)
    known = set(available)
    for basin in wanted:
        if basin not in known:
            raise IngestError(f"{where}: basin {basin} is in the basin list but has no files")
    return list(wanted)


def require_columns(found: Iterable[str], expected: Iterable[str], file: Path) -> None:
    """Fail naming the first expected column that the header lacks."""
    found = list(found)
    for column in expected:
        if column not in found:
            shown = ", ".join(str(c) for c in found[:12])
            raise IngestError(f"{file}: header has no column {column!r} (found: {shown})")


def parse_dates(values: pd.Series, file: Path, first_line: int) -> pd.DatetimeIndex:
    """Parse ISO-like dates; fail on the first unparsable one with its line number."""
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise IngestError(f"{file}: unparsable date {values.iloc[i]!r} on line {first_line + i}")
    return pd.DatetimeIndex(parsed)


def dates_from_parts(
    year: pd.Series, month: pd.Series, day: pd.Series, file: Path, first_line: int
) -> pd.DatetimeIndex:
    """Build dates from year/month/day columns (CAMELS-US text files)."""
    parts = pd.DataFrame({"year": year, "month": month, "day": day})
    parsed = pd.to_datetime(parts, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        shown = "-".join(str(v) for v in parts.iloc[i].tolist())
        raise IngestError(f"{file}: unparsable date {shown!r} on line {first_line + i}")
    return pd.DatetimeIndex(parsed)


def daily_index(dates: pd.DatetimeIndex, file: Path, first_line: int) -> pd.DatetimeIndex:
    """Check dates are whole days, unique and increasing; return them normalised."""
    if (dates != dates.normalize()).any():
        i = int(np.argmax(dates != dates.normalize()))
        raise IngestError(f"{file}: {dates[i]} on line {first_line + i} is not a daily date")
    duplicated = dates.duplicated()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise IngestError(f"{file}: duplicated date {dates[i].date()} on line {first_line + i}")
    if not dates.is_monotonic_increasing:
        i = int(np.argmax(np.diff(dates.asi8) < 0)) + 1
        raise IngestError(
            f"{file}: date {dates[i].date()} on line {first_line + i} is out of order"
        )
    return dates


def _is_blank(raw: pd.Series) -> pd.Series:
    """Empty cells and the usual missing-value tokens."""
    return raw.isna() | raw.astype(str).str.strip().str.lower().isin(MISSING_TOKENS)


def numeric_columns(
    frame: pd.DataFrame, columns: Sequence[str], file: Path, first_line: int
) -> pd.DataFrame:
    """Columns as float64; empty cells and NaN/NA tokens become NaN, anything else fails."""
    out = {}
    for column in columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = (values.isna() & ~_is_blank(raw)).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise IngestError(
                f"{file}: non-numeric value {raw.iloc[i]!r} in column {column!r} "
                f"on line {first_line + i}"
            )
        out[column] = values.astype(np.float64)
    return pd.DataFrame(out, index=frame.index)


def cfs_to_mm_per_day(q_cfs: pd.Series | np.ndarray, area_km2: float) -> pd.Series | np.ndarray:
    """Convert discharge in cubic feet per second to depth over the basin in mm/day."""
    return q_cfs * CFS_TO_M3S * SECONDS_PER_DAY / (area_km2 * 1e6) * 1000.0


def m3s_to_mm_per_day(q_m3s: pd.Series | np.ndarray, area_km2: float) -> pd.Series | np.ndarray:
    """Convert discharge in m3/s to depth over the basin in mm/day."""
    return q_m3s * SECONDS_PER_DAY / (area_km2 * 1e6) * 1000.0


def merge_attribute_tables(
    tables: Sequence[tuple[Path, pd.DataFrame]], basins: Sequence[str]
) -> pd.DataFrame:
    """Join per-topic attribute tables (indexed by basin id) into one row per basin.

    Every table must have a row for every basin. A column repeated in a later table is
    dropped when its values agree and kept as ``<column>_<table>`` when they differ.
    """
    merged = pd.DataFrame(index=pd.Index(list(basins), name="basin"))
    for file, table in tables:
        if table.index.has_duplicates:
            dup = table.index[table.index.duplicated()][0]
            raise IngestError(f"{file}: basin {dup} has two rows")
        missing = [b for b in basins if b not in table.index]
        if missing:
            raise IngestError(f"{file}: attribute table has no row for basin {missing[0]}")
        rows = table.loc[list(basins)]
        for column in rows.columns:
            values = rows[column]
            if column in merged.columns:
                if values.astype(str).equals(merged[column].astype(str)):
                    continue
                column = f"{column}_{file.stem}"
            merged[column] = values.to_numpy()
    return merged


def attribute_variables(
    table: pd.DataFrame, units: dict[str, str], long_names: dict[str, str] | None = None
) -> tuple[pd.DataFrame, list[Variable]]:
    """Type the attribute columns (numbers as float, the rest as strings) and describe them.

    Units come from the dataset's documentation (``units``); a numeric column it does not
    cover is marked ``units: unknown`` rather than guessed, a text column ``category``.
    """
    long_names = long_names or {}
    typed = {}
    variables = []
    for column in table.columns:
        raw = table[column]
        numbers = pd.to_numeric(raw, errors="coerce")
        # Empty for every chosen basin still counts as numeric, so the schema does not
        # depend on which basins are ingested.
        is_numeric = units.get(column) != "category" and bool(
            (numbers.notna() | _is_blank(raw)).all()
        )
        typed[column] = numbers.astype(np.float64) if is_numeric else raw.astype(object)
        default_units = "unknown" if is_numeric else "category"
        variables.append(
            Variable(str(column), units.get(column, default_units), long_names.get(column, column))
        )
    return pd.DataFrame(typed, index=table.index), variables


def documented_attributes(dataset: str) -> tuple[dict[str, str], dict[str, str]]:
    """Units and long names of a dataset's attributes, from ``units/<dataset>.yaml``."""
    text = resources.files("regional_lstm.data.ingest").joinpath(f"units/{dataset}.yaml")
    table = yaml.safe_load(text.read_text(encoding="utf-8")) or {}
    units = {name: str(entry[0]) for name, entry in table.items()}
    long_names = {name: str(entry[1]) for name, entry in table.items()}
    return units, long_names
