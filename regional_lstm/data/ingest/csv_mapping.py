"""The mapping YAML that describes a per-basin CSV layout (schema: ``datasets/csv.md``), checked.

Which files hold a basin's series (a ``{basin}`` glob), the columns to keep with their units and
optional unit conversion, and the attribute sources. Every problem is one IngestError naming the
mapping file and the key; `regional_lstm.data.ingest.csv_source` reads the files it describes.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from regional_lstm.basin_ids import id_problem
from regional_lstm.data.store import CANONICAL, TARGET_VARIABLES
from regional_lstm.errors import IngestError
from regional_lstm.units import needs_area
from regional_lstm.yaml_model import read_mapping, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DateColumn(_Strict):
    """The date column and, optionally, its strftime format (else ISO-like dates)."""

    column: str
    format: str | None = None


class VariableSpec(_Strict):
    """One source column kept as a dynamic store variable."""

    name: str
    units: str
    from_units: str | None = None
    long_name: str | None = None


class AttributeColumn(_Strict):
    """One attribute column to keep, optionally renamed and described."""

    name: str | None = None
    units: str | None = None
    long_name: str | None = None


class AttributeSource(_Strict):
    """A table with one row per basin, or one ``key,value`` file per basin (``{basin}`` in path)."""

    path: str
    layout: Literal["table", "key_value"] = "table"
    id_column: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: dict[str, AttributeColumn] | None = None

    @model_validator(mode="after")
    def _check_layout(self) -> AttributeSource:
        if self.layout == "table" and self.id_column is None:
            raise ValueError(f"{self.path}: a table needs id_column (the basin id column)")
        if self.layout == "key_value":
            if "{basin}" not in self.path:
                raise ValueError(f"{self.path}: a key_value path needs {{basin}} in it")
            if self.id_column is not None:
                raise ValueError(f"{self.path}: id_column applies to layout table only")
        return self


class AreaSpec(_Strict):
    """Which attribute holds the catchment area, stored as the canonical ``area`` [km2]."""

    attribute: str
    from_units: str = "km2"

    @field_validator("from_units")
    @classmethod
    def _check_units(cls, from_units: str) -> str:
        if needs_area(from_units, "km2"):
            raise ValueError(f"{from_units!r} is not an area")
        return from_units


class CsvMapping(_Strict):
    """How one dataset's CSV files become the store schema."""

    name: str
    files: str
    basins: str | list[str] | None = None
    basin_id_width: int | None = Field(default=None, ge=1)
    date: DateColumn
    delimiter: str = ","
    encoding: str = "utf-8"
    missing_values: list[float] = Field(default_factory=list)
    variables: dict[str, VariableSpec] = Field(min_length=1)
    attributes: list[AttributeSource] = Field(default_factory=list)
    attribute_units: str | None = None
    area: AreaSpec | None = None
    _path: Path = Path("mapping.yaml")

    @property
    def path(self) -> Path:
        """The mapping file this was loaded from (for error messages and provenance)."""
        return self._path

    @field_validator("files")
    @classmethod
    def _check_files(cls, files: str) -> str:
        if "{basin}" not in files:
            raise ValueError(f"{files!r} has no {{basin}} placeholder")
        return files

    @field_validator("basins")
    @classmethod
    def _check_basins(cls, basins: str | list[str] | None) -> str | list[str] | None:
        for basin in basins if isinstance(basins, list) else []:
            problem = id_problem(basin)
            if problem is not None:
                raise ValueError(problem)
        return basins

    @field_validator("variables")
    @classmethod
    def _check_variables(cls, variables: dict[str, VariableSpec]) -> dict[str, VariableSpec]:
        seen: dict[str, str] = {}
        for column, spec in variables.items():
            if spec.name in seen:
                raise ValueError(f"columns {seen[spec.name]!r} and {column!r} are both {spec.name}")
            seen[spec.name] = column
            if spec.name in TARGET_VARIABLES and spec.units != CANONICAL[spec.name][0]:
                canonical = CANONICAL[spec.name][0]
                raise ValueError(
                    f"column {column!r}: {spec.name} is stored in {canonical} "
                    f"(write units: {canonical} and from_units: {spec.units})"
                )
            if spec.from_units is not None:
                try:
                    needs_area(spec.from_units, spec.units)
                except ValueError as error:
                    raise ValueError(f"column {column!r}: {error}") from None
        return variables

    @field_validator("attribute_units")
    @classmethod
    def _check_attribute_units(cls, dataset: str | None) -> str | None:
        units_dir = resources.files("regional_lstm.data.ingest").joinpath("units")
        known = sorted(p.name.removesuffix(".yaml") for p in units_dir.iterdir())
        if dataset is not None and dataset not in known:
            raise ValueError(f"no documented units for {dataset!r} (known: {', '.join(known)})")
        return dataset

    @model_validator(mode="after")
    def _check_area_is_given(self) -> CsvMapping:
        for column, spec in self.variables.items():
            if spec.from_units and needs_area(spec.from_units, spec.units) and self.area is None:
                raise ValueError(
                    f"column {column!r}: {spec.from_units} -> {spec.units} needs the basin area "
                    "(add area: {attribute: <attribute in km2>})"
                )
        return self


def load_mapping(path: str | Path) -> CsvMapping:
    """Read and check a mapping YAML; every problem is one IngestError naming the file."""
    path = Path(path)
    raw = read_mapping(path, "mapping", IngestError)
    mapping = validate(CsvMapping, raw, str(path), IngestError)
    mapping._path = path.absolute()
    return mapping
