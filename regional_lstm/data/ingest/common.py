"""Checks shared by the ingest adapters; each failure is one IngestError naming the file."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from regional_lstm.basin_ids import check_basin_id
from regional_lstm.errors import SHOWN_CHARACTERS, IngestError, cut

logger = logging.getLogger(__name__)

MISSING_TOKENS = frozenset({"", "nan", "na", "n/a"})
FIRST_DATA_LINE = 2  # line 1 of a daily table is its header
FLOAT32_MAX = float(np.finfo(np.float32).max)  # stores hold float32: beyond it is infinity


def shown(value: object) -> str:
    """``repr(value)`` cut short, so that a message about a file's content stays one short line
    whatever the cell holds (400 digits, a NUL, a UTF-16 header read as latin-1)."""
    return cut(repr(value))


def require_dir(path: Path, what: str) -> Path:
    """Return ``path`` if it is a directory, else fail naming what was expected there."""
    if not path.is_dir():
        raise IngestError(f"{path}: {what} directory not found")
    return path


def read_basin_list(path: str | Path) -> list[str]:
    """Basin ids from a text file, one per line; blank lines and '#' comments are ignored.

    Each id is checked before any path is built from it (`regional_lstm.basin_ids`).
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: basin list file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise IngestError(f"{path}: basin list is not UTF-8 text (byte {error.start})") from None
    basins = []
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if entry:
            basins.append(check_basin_id(entry, f"{path}, line {number}", IngestError))
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
            names = cut(
                ", ".join(cut(repr(str(c))[1:-1]) for c in found[:12]), 4 * SHOWN_CHARACTERS
            )
            raise IngestError(f"{file}: header has no column {column!r} (found: {names})")


def parse_dates(
    values: pd.Series, file: Path, first_line: int, format: str | None = None
) -> pd.DatetimeIndex:
    """Parse ISO-like dates, or dates in a strftime ``format``; fail on the first bad one."""
    parsed = pd.to_datetime(values, errors="coerce", format=format or "mixed")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        if format is None:
            raise IngestError(
                f"{file}: unparsable date {shown(values.iloc[i])} on line {first_line + i}"
            )
        raise IngestError(
            f"{file}: date {shown(values.iloc[i])} on line {first_line + i} "
            f"does not match format {format!r}"
        )
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
        date = "-".join(str(v) for v in parts.iloc[i].tolist())
        raise IngestError(f"{file}: unparsable date {shown(date)} on line {first_line + i}")
    return pd.DatetimeIndex(parsed)


def daily_index(dates: pd.DatetimeIndex, file: Path, first_line: int | None) -> pd.DatetimeIndex:
    """Check dates are whole days, unique and increasing; return them normalised.

    Problems are placed ``on line N`` of a text file whose first date is on ``first_line``, or,
    where ``first_line`` is None (netCDF), ``at position N`` (from 0) along the date axis.
    """

    def where(i: int) -> str:
        return f"at position {i}" if first_line is None else f"on line {first_line + i}"

    if (dates != dates.normalize()).any():
        i = int(np.argmax(dates != dates.normalize()))
        raise IngestError(f"{file}: {dates[i]} {where(i)} is not a daily date")
    duplicated = dates.duplicated()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise IngestError(f"{file}: duplicated date {dates[i].date()} {where(i)}")
    if not dates.is_monotonic_increasing:
        i = int(np.argmax(np.diff(dates.asi8) < 0)) + 1
        raise IngestError(f"{file}: date {dates[i].date()} {where(i)} is out of order")
    return dates


def is_blank(raw: pd.Series) -> pd.Series:
    """Empty cells and the usual missing-value tokens."""
    return raw.isna() | raw.astype(str).str.strip().str.lower().isin(MISSING_TOKENS)


def numeric_columns(
    frame: pd.DataFrame, columns: Sequence[str], file: Path, first_line: int
) -> pd.DataFrame:
    """Columns as float64; empty cells and NaN/NA tokens become NaN, anything else fails.

    Columns the reader already parsed as float64 are taken as they are.
    """
    values = frame[list(columns)].copy()
    for column in columns:
        if values[column].dtype != np.float64:
            values[column] = _text_to_float(values[column], column, file, first_line)
    return require_storable(values, file, first_line)


def require_storable(values: pd.DataFrame, file: Path, first_line: int | None) -> pd.DataFrame:
    """``values`` if float32 holds each one; an infinity or a number past 3.4e38 (``1e400``,
    ``inf``) would become an infinity in the store and in every loss it enters.

    A bad value is placed ``on line N`` where ``first_line`` is the table's first data line,
    else by its date (``values`` indexed by day, after a reading or a unit conversion).
    """
    numbers = values.to_numpy(np.float64)
    beyond = np.abs(np.nan_to_num(numbers, nan=0.0)) > FLOAT32_MAX
    if beyond.any():
        row, column = np.argwhere(beyond)[0]
        where = f"line {first_line + row}" if first_line is not None else values.index[row].date()
        raise IngestError(
            f"{file}: value {numbers[row, column]:g} in column {values.columns[column]!r} on "
            f"{where} is beyond what a store holds (float32, at most 3.4e38 in size)"
        )
    return values


def _text_to_float(raw: pd.Series, column: str, file: Path, first_line: int) -> pd.Series:
    """One column of text as float64, failing on the first cell that is no number or token."""
    values = pd.to_numeric(raw, errors="coerce")
    # Only a cell that is not empty yet gave no number can be bad; the token check is slow.
    unparsed = np.flatnonzero(values.isna().to_numpy() & raw.notna().to_numpy())
    if len(unparsed):
        bad = unparsed[~is_blank(raw.iloc[unparsed]).to_numpy()]
        if len(bad):
            i = int(bad[0])
            raise IngestError(
                f"{file}: non-numeric value {shown(raw.iloc[i])} in column {column!r} "
                f"on line {first_line + i}"
            )
    return values.astype(np.float64)


def read_table(file: Path, encoding: str | None = None, **options) -> pd.DataFrame:
    """A delimited text table as strings; pandas' parse failures are one IngestError.

    Without an ``encoding``, UTF-8 and else ISO-8859-1 (as CAMELS-CH ships some tables).
    ``options`` go to ``pandas.read_csv``; a ``dtype`` there replaces the strings.
    """
    options = {"dtype": str, **options}
    try:
        try:
            return pd.read_csv(file, encoding=encoding or "utf-8", **options)
        except UnicodeDecodeError:
            if encoding is not None:
                raise
            return pd.read_csv(file, encoding="latin-1", **options)
    except pd.errors.EmptyDataError:
        raise IngestError(f"{file}: file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())
        raise IngestError(f"{file}: cannot be read as CSV ({reason})") from None


def read_attribute_table(file: Path, **options) -> pd.DataFrame:
    """A table keyed by ``gauge_id`` (the index), as strings with spaces stripped.

    ``options`` go to :func:`read_table`.
    """
    table = read_table(file, **options)
    require_columns(table.columns, ["gauge_id"], file)
    table["gauge_id"] = table["gauge_id"].str.strip()
    table = table.set_index("gauge_id")
    return table.apply(lambda column: column.str.strip())


def read_daily_table(
    file: Path,
    columns: Sequence[str],
    *,
    date_column: str = "date",
    date_format: str | None = None,
    skip_other_columns: bool = False,
    **options,
) -> pd.DataFrame:
    """``columns`` of a table with a header line and a date column, as float64 by day.

    With ``skip_other_columns`` only the date and ``columns`` are read, so neither the other
    columns nor extra fields at the end of a line are checked. ``options`` (``sep``,
    ``encoding``) go to :func:`read_table`.
    """
    header = read_table(file, nrows=0, **options).columns
    require_columns(header, [date_column, *columns], file)
    if skip_other_columns:
        options["usecols"] = [date_column, *columns]
    raw = _read_numbers(file, list(columns), **options)
    dates = parse_dates(raw[date_column], file, FIRST_DATA_LINE, date_format)
    values = numeric_columns(raw, columns, file, FIRST_DATA_LINE)
    values.index = daily_index(dates, file, FIRST_DATA_LINE)
    return values


def _read_numbers(file: Path, numbers: list[str], **options) -> pd.DataFrame:
    """A table as strings but for ``numbers``, as float64 where pandas parses them all.

    Parsing in the reader is about ten times faster than converting strings afterwards. Where
    a cell is no number, all stay strings for :func:`numeric_columns` to name the first bad
    one; so do columns of only 0, 1 and NaN, as the reader would take true/false for 1/0.
    Each read has the same options, so that pandas splits every line the same way.
    """
    try:
        table = read_table(file, dtype=_floats(numbers), **options)
    except ValueError:
        return read_table(file, **options)
    parsed = table[numbers].to_numpy()
    zero_one = ((parsed == 0) | (parsed == 1) | np.isnan(parsed)).all(axis=0)
    if zero_one.any():
        certain = [column for column, flag in zip(numbers, zero_one, strict=True) if not flag]
        table = read_table(file, dtype=_floats(certain), **options)
    return table


def _floats(numbers: list[str]) -> defaultdict[str, type]:
    """``read_csv`` dtypes: float64 for ``numbers``, strings for every other column."""
    return defaultdict(lambda: str, dict.fromkeys(numbers, np.float64))


def documented_attributes(dataset: str) -> tuple[dict[str, str], dict[str, str]]:
    """Units and long names of a dataset's attributes, from ``units/<dataset>.yaml``."""
    text = resources.files("regional_lstm.data.ingest").joinpath(f"units/{dataset}.yaml")
    table = yaml.safe_load(text.read_text(encoding="utf-8")) or {}
    units = {name: str(entry[0]) for name, entry in table.items()}
    long_names = {name: str(entry[1]) for name, entry in table.items()}
    return units, long_names
