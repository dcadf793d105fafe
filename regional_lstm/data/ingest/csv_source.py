"""Any per-basin CSV layout, read as a mapping YAML describes it (`csv_mapping`).

One or more CSV files per basin (found with the mapping's ``{basin}`` glob and concatenated in
time), the columns it keeps, converted to their stored units, and attribute tables keyed by basin
id (one table for all basins, or one ``key,value`` file per basin). Every problem with the files
is one IngestError naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.data.ingest.attributes import (
    UnusableCells,
    attribute_variables,
    merge_attribute_tables,
)
from regional_lstm.data.ingest.common import (
    documented_attributes,
    read_basin_list,
    read_daily_table,
    read_table,
    require_columns,
    require_dir,
    require_storable,
    select_basins,
    shown,
)
from regional_lstm.data.ingest.csv_mapping import (
    AttributeSource,
    CsvMapping,
    VariableSpec,
    load_mapping,
)
from regional_lstm.data.store import CANONICAL, STREAMFLOW_AREA, Variable
from regional_lstm.errors import IngestError
from regional_lstm.units import convert, needs_area


def open_csv_source(
    source_path: Path, wanted: list[str] | None = None, mapping: str | Path | None = None
) -> CsvSource:
    """The csv adapter over ``source_path`` as the mapping YAML at ``mapping`` describes it."""
    if mapping is None:
        raise IngestError("csv ingest needs --mapping FILE (see datasets/*.yaml for examples)")
    return CsvSource(source_path, load_mapping(mapping), wanted)


@dataclass
class CsvSource:
    """Reads basins from per-basin CSV files as a mapping describes them."""

    source_path: Path
    mapping: CsvMapping
    wanted: list[str] | None = None
    kind: str = "csv"
    basins: list[str] = field(init=False)
    dynamic_variables: list[Variable] = field(init=False)
    extra_attrs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        require_dir(self.source_path, "CSV source")
        self._files = self._find_files()
        where = self.source_path / self.mapping.files
        self.basins = select_basins(list(self._files), self._wanted_basins(), where)
        self.dynamic_variables = [
            Variable(spec.name, spec.units, spec.long_name or _default_long_name(spec, column))
            for column, spec in self.mapping.variables.items()
        ]
        self.extra_attrs = {"dataset": self.mapping.name, "mapping": str(self.mapping.path)}
        if self._converts_streamflow():
            self.extra_attrs[STREAMFLOW_AREA] = "area"

    def read_basin(self, basin: str) -> pd.DataFrame:
        parts = [(file, self._converted(basin, file)) for file in self._files[basin]]
        frame = _concat_in_time(parts)
        names = {column: spec.name for column, spec in self.mapping.variables.items()}
        return frame.rename(columns=names)

    def read_attributes(self) -> tuple[pd.DataFrame, list[Variable]]:
        table, units, long_names, unusable = self._attributes
        clash = sorted(set(table.columns) & {v.name for v in self.dynamic_variables})
        if clash:
            raise IngestError(
                f"{self.mapping.path}: attribute {clash[0]!r} has the name of a dynamic variable"
            )
        return attribute_variables(table, units, long_names, unusable)

    def _converts_streamflow(self) -> bool:
        """Whether streamflow is converted to mm/day here, with the stored ``area``."""
        return any(
            spec.name == "streamflow"
            and spec.from_units is not None
            and needs_area(spec.from_units, spec.units)
            for spec in self.mapping.variables.values()
        )

    def _resolve(self, path: str) -> Path:
        """A mapping path: absolute, or relative to the source directory."""
        return self.source_path / path

    def _pad(self, basin: str) -> str:
        width = self.mapping.basin_id_width
        return basin.zfill(width) if width and basin.isdigit() else basin

    def _find_files(self) -> dict[str, list[Path]]:
        """Data files per basin id, from the ``files`` pattern with ``{basin}`` as a wildcard."""
        pattern = Path(self.mapping.files)
        # Glob below the source directory so that its own name is never read as a pattern.
        root = Path(pattern.anchor) if pattern.is_absolute() else self.source_path
        relative = pattern.relative_to(pattern.anchor).as_posix()
        basin_in_path = _pattern_regex(relative)
        files: dict[str, list[Path]] = {}
        for file in sorted(root.glob(relative.replace("{basin}", "*"))):
            match = basin_in_path.fullmatch(file.relative_to(root).as_posix())
            if match is not None and file.is_file():
                files.setdefault(self._pad(match["basin"]), []).append(file)
        return files

    def _wanted_basins(self) -> list[str] | None:
        if self.wanted is not None:
            return [self._pad(b) for b in self.wanted]
        if isinstance(self.mapping.basins, list):
            return [self._pad(b) for b in self.mapping.basins]
        if isinstance(self.mapping.basins, str):
            return [self._pad(b) for b in read_basin_list(self._resolve(self.mapping.basins))]
        return None

    def _converted(self, basin: str, file: Path) -> pd.DataFrame:
        """One data file's variables in their stored units (still under the source names)."""
        frame = self._read_file(file)
        for column, spec in self.mapping.variables.items():
            if spec.from_units is not None:
                area = self._area_km2(basin) if needs_area(spec.from_units, spec.units) else None
                frame[column] = convert(frame[column], spec.from_units, spec.units, area_km2=area)
        return require_storable(frame, file, None)

    def _read_file(self, file: Path) -> pd.DataFrame:
        """One data file's variables (source column names) as float64 on its daily dates."""
        values = read_daily_table(
            file,
            list(self.mapping.variables),
            date_column=self.mapping.date.column,
            date_format=self.mapping.date.format,
            skip_other_columns=True,
            sep=self.mapping.delimiter,
            encoding=self.mapping.encoding,
        )
        if values.empty:
            raise IngestError(f"{file}: no data rows under the header")
        if self.mapping.missing_values:
            values = values.mask(values.isin(self.mapping.missing_values))
        return values

    def _area_km2(self, basin: str) -> float:
        area = self._attributes[0].loc[basin, "area"]
        if not np.isfinite(area) or area <= 0:
            raise IngestError(
                f"{self.mapping.path}: basin {basin} has no positive area in attribute "
                f"{self.mapping.area.attribute!r}, needed to convert discharge to mm/day"
            )
        return float(area)

    @cached_property
    def _attributes(
        self,
    ) -> tuple[pd.DataFrame, dict[str, str], dict[str, str], list[UnusableCells]]:
        """All attribute sources joined per basin, with units and long names by column, and
        the cells that held no usable number."""
        units: dict[str, str] = {}
        long_names: dict[str, str] = {}
        if self.mapping.attribute_units is not None:
            units, long_names = documented_attributes(self.mapping.attribute_units)
        tables = []
        for source in self.mapping.attributes:
            read = self._read_table if source.layout == "table" else self._read_key_values
            file, table = read(source)
            tables.append((file, _select_columns(source, table, units, long_names)))
        merged, unusable = merge_attribute_tables(tables, self.basins)
        if self.mapping.area is not None:
            merged["area"] = self._area_column(merged)
            units["area"] = CANONICAL["area"][0]
            long_names["area"] = f"catchment area (attribute {self.mapping.area.attribute})"
        return merged, units, long_names, unusable

    def _area_column(self, merged: pd.DataFrame) -> pd.Series:
        spec = self.mapping.area
        if spec.attribute not in merged.columns:
            raise IngestError(
                f"{self.mapping.path}: area attribute {spec.attribute!r} is in no attribute table"
            )
        area = pd.to_numeric(merged[spec.attribute], errors="coerce")
        return convert(area, spec.from_units, "km2")

    def _read_table(self, source: AttributeSource) -> tuple[Path, pd.DataFrame]:
        file = self._resolve(source.path)
        if not file.is_file():
            raise IngestError(f"{file}: attribute table not found")
        table = read_table(file, sep=source.delimiter, encoding=source.encoding)
        require_columns(table.columns, [source.id_column, *(source.columns or {})], file)
        ids = table.pop(source.id_column).str.strip().map(self._pad, na_action="ignore")
        table.index = pd.Index(ids, name="basin")
        return file, table.apply(lambda column: column.str.strip())

    def _read_key_values(self, source: AttributeSource) -> tuple[Path, pd.DataFrame]:
        """One ``key,value`` file per basin; keys become columns. A basin without its file gets
        its attributes missing, as one without a row in a table (at least one file must exist)."""
        rows = {}
        for basin in self.basins:
            file = self._resolve(source.path.replace("{basin}", basin))
            if not file.is_file():
                continue
            pairs = read_table(file, sep=source.delimiter, encoding=source.encoding, header=None)
            if pairs.shape[1] != 2:
                raise IngestError(f"{file}: expected 'key{source.delimiter}value' rows")
            keys = pairs[0].str.strip()
            if keys.duplicated().any():
                raise IngestError(
                    f"{file}: key {shown(keys[keys.duplicated()].iloc[0])} appears twice"
                )
            for key in source.columns or {}:
                if key not in set(keys):
                    raise IngestError(f"{file}: no key {key!r}")
            rows[basin] = pd.Series(pairs[1].str.strip().to_numpy(), index=keys.to_numpy())
        if not rows:
            first = self._resolve(source.path.replace("{basin}", self.basins[0]))
            raise IngestError(f"{first}: attribute file not found (nor for any other basin)")
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "basin"
        return self._resolve(source.path), table


def _select_columns(
    source: AttributeSource, table: pd.DataFrame, units: dict[str, str], long_names: dict[str, str]
) -> pd.DataFrame:
    """Keep, rename and describe the columns a source lists (all columns when it lists none)."""
    if source.columns is None:
        return table
    renamed = {}
    for column, spec in source.columns.items():
        name = spec.name or column
        renamed[column] = name
        if spec.units or column in units:
            units[name] = spec.units or units[column]
        long_names[name] = spec.long_name or long_names.get(column, name)
    return table[list(source.columns)].rename(columns=renamed)


def _default_long_name(spec: VariableSpec, column: str) -> str:
    return CANONICAL[spec.name][1] if spec.name in CANONICAL else f"{column} (source column)"


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A regex for a ``files`` glob capturing ``{basin}`` (a repeated one must be the same id)."""
    pieces = {"**/": "(?:[^/]+/)*", "*": "[^/]*", "?": "[^/]"}
    regex = ""
    for token in re.split(r"(\{basin\}|\*\*/|\*|\?)", pattern):
        if token == "{basin}":
            regex += "(?P=basin)" if "(?P<basin>" in regex else "(?P<basin>[^/]+?)"
        else:
            regex += pieces.get(token, re.escape(token))
    return re.compile(regex)


def _concat_in_time(parts: list[tuple[Path, pd.DataFrame]]) -> pd.DataFrame:
    """One basin's files as one series; a date in two files is an error naming both."""
    parts = sorted(parts, key=lambda part: part[1].index[0])
    frame = pd.concat([values for _, values in parts])
    duplicated = frame.index.duplicated()
    if duplicated.any():
        date = frame.index[duplicated][0]
        first, second = [file for file, values in parts if date in values.index][:2]
        raise IngestError(f"{second}: duplicated date {date.date()} (also in {first})")
    return frame.sort_index()
