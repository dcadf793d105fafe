"""Attribute tables: merged per basin, with unusable cells made missing and named once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.data.ingest.common import is_blank, shown
from regional_lstm.data.store import Variable
from regional_lstm.errors import IngestError
from regional_lstm.logs import shortlist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnusableCells:
    """Cells of one attribute in one table that hold no usable number (``Inf``, ``-Inf``,
    ``1e400``): ingested as missing, named in one warning and in the store."""

    attribute: str
    table: str  # the table's file name
    cells: dict[str, str]  # basin -> the cell as written


def merge_attribute_tables(
    tables: Sequence[tuple[Path, pd.DataFrame]], basins: Sequence[str], *, warn: bool = True
) -> tuple[pd.DataFrame, list[UnusableCells]]:
    """Join per-topic attribute tables (indexed by basin id) into one row per basin.

    A basin a table has no row for gets that table's attributes missing (NaN, or empty text),
    and one warning (unless not ``warn``) lists each such table with its basins: a run refuses
    only the missing attributes it uses. A cell that is a number no model can use (infinite, or
    beyond float64) is missing too, and returned as `UnusableCells` for `attribute_variables`
    to name. A column repeated in a later table is dropped when its values agree where both
    have one (filling the other's gaps) and kept as ``<column>_<table>`` when they differ.
    """
    merged = pd.DataFrame(index=pd.Index(list(basins), name="basin"))
    gaps: dict[Path, list[str]] = {}
    unusable: list[UnusableCells] = []
    for file, table in tables:
        if table.index.has_duplicates:
            dup = table.index[table.index.duplicated()][0]
            raise IngestError(f"{file}: basin {shown(dup)} has two rows")
        missing = [b for b in basins if b not in table.index]
        if missing:
            gaps[file] = missing
        rows, found = _unusable_to_missing(table.reindex(list(basins)), file)
        for column in rows.columns:
            values = rows[column]
            if column in merged.columns:
                known = values.notna() & merged[column].notna()
                if values[known].astype(str).equals(merged[column][known].astype(str)):
                    merged[column] = merged[column].where(merged[column].notna(), values)
                    continue
                renamed = f"{column}_{file.stem}"
                found = [
                    replace(c, attribute=renamed) if c.attribute == column else c for c in found
                ]
                column = renamed
            merged[column] = values.to_numpy()
        unusable += found
    if warn:
        warn_missing_rows(gaps)
    return merged, unusable


def _unusable_to_missing(
    rows: pd.DataFrame, file: Path
) -> tuple[pd.DataFrame, list[UnusableCells]]:
    """``rows`` with each infinite number (``inf``, ``1e400``) made missing, and those cells:
    an infinite area or static input would make every prediction of its basin infinite."""
    numbers = rows.apply(pd.to_numeric, errors="coerce")
    # Only in number columns: 'Inf' among a category's names (a gauge name) stays a name.
    numeric = (numbers.notna() | rows.apply(is_blank)).all(axis=0).to_numpy()
    infinite = np.isinf(numbers.to_numpy(np.float64)) & numeric
    if not infinite.any():
        return rows, []
    found = [
        UnusableCells(
            str(rows.columns[column]),
            file.name,
            {str(rows.index[row]): str(rows.iat[row, column]) for row in np.flatnonzero(where)},
        )
        for column, where in enumerate(infinite.T)
        if where.any()
    ]
    return rows.mask(pd.DataFrame(infinite, index=rows.index, columns=rows.columns)), found


def warn_missing_rows(gaps: dict[Path, list[str]]) -> None:
    """One warning naming each attribute table and the basins it has no row for (tables that
    lack the same basins together, by file name when they share a folder)."""
    if not gaps:
        return
    folders = {file.parent for file in gaps}
    folder = f" in {folders.pop()}" if len(folders) == 1 else ""
    groups: dict[tuple[str, ...], list[str]] = {}
    for file, basins in gaps.items():
        groups.setdefault(tuple(basins), []).append(file.name if folder else str(file))
    listed = "; ".join(
        f"{', '.join(files)} {'lacks' if len(files) == 1 else 'lack'} {shortlist(list(basins))}"
        for basins, files in groups.items()
    )
    logger.warning(
        f"attribute tables{folder} have no row for some basins, ingested with those attributes "
        f"missing (a run that uses one of them refuses those basins): {listed}"
    )


def attribute_variables(
    table: pd.DataFrame,
    units: dict[str, str],
    long_names: dict[str, str] | None = None,
    unusable: Sequence[UnusableCells] = (),
) -> tuple[pd.DataFrame, list[Variable]]:
    """Type the attribute columns (numbers as float, the rest as strings) and describe them.

    Units come from the dataset's documentation (``units``); a numeric column it does not
    cover is marked ``units: unknown`` rather than guessed, a text column ``category``.
    ``unusable`` cells (already missing in ``table``) are named in one warning and kept with
    their attribute (`Variable.unusable_values`), for `inspect` to show.
    """
    long_names = long_names or {}
    replaced: dict[str, dict[str, dict[str, str]]] = {}
    for found in unusable:
        replaced.setdefault(found.attribute, {}).setdefault(found.table, {}).update(found.cells)
    warn_unusable(unusable)
    typed = {}
    variables = []
    for column in table.columns:
        raw = table[column]
        numbers = pd.to_numeric(raw, errors="coerce")
        # Empty for every chosen basin still counts as numeric, so the schema does not
        # depend on which basins are ingested.
        is_numeric = units.get(column) != "category" and bool(
            (numbers.notna() | is_blank(raw)).all()
        )
        typed[column] = numbers.astype(np.float64) if is_numeric else raw.astype(object)
        default_units = "unknown" if is_numeric else "category"
        variables.append(
            Variable(
                str(column),
                units.get(column, default_units),
                long_names.get(column, column),
                replaced.get(str(column)),
            )
        )
    return pd.DataFrame(typed, index=table.index), variables


def warn_unusable(unusable: Sequence[UnusableCells]) -> None:
    """One warning naming each attribute whose cells held no usable number, its table, the
    cells as written and the basins: they were ingested as missing."""
    if not unusable:
        return
    listed = "; ".join(
        f"{found.table} {found.attribute} "
        f"({', '.join(sorted(set(found.cells.values())))}) for {shortlist(list(found.cells))}"
        for found in unusable
    )
    logger.warning(
        f"attribute values that are not finite numbers were ingested as missing (a run that "
        f"uses one of these attributes refuses those basins): {listed}"
    )
