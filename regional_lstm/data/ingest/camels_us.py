"""CAMELS-US in its original layout (Newman et al. 2015; Addor et al. 2017).

``basin_mean_forcing/<forcing>/**/<id>_*_forcing_leap.txt``: three header lines (latitude,
elevation in m, area in m2), a column header, then whitespace-separated daily values.
``usgs_streamflow/**/<id>_streamflow_qc.txt``: ``gauge year month day Q[cfs] flag``, -999 missing.
``camels_attributes_v2.0/camels_*.txt``: ';'-separated tables keyed by ``gauge_id``.

Streamflow is converted to mm/day with the area in the forcing file header (as neuralhydrology
does); that area, in km2, is the store's ``area`` so conversions back to m3/s are exact.
The forcing files' SWE column is dropped: it is a constant 0 placeholder, not an observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.data.ingest.attributes import (
    attribute_variables,
    merge_attribute_tables,
)
from regional_lstm.data.ingest.common import (
    daily_index,
    dates_from_parts,
    documented_attributes,
    numeric_columns,
    read_attribute_table,
    read_table,
    require_columns,
    require_dir,
    require_storable,
    select_basins,
)
from regional_lstm.data.store import CANONICAL, STREAMFLOW_AREA, Variable
from regional_lstm.errors import IngestError
from regional_lstm.units import convert

FORCINGS = ("daymet", "maurer", "maurer_extended", "nldas")
MISSING = -999.0
# Source column (lower-cased, units stripped) -> (store name, units, long name).
FORCING_COLUMNS = {
    "dayl": ("dayl", "s", "day length"),
    "prcp": ("prcp", "mm/day", "precipitation"),
    "srad": ("srad", "W/m2", "incoming shortwave radiation (daylight average)"),
    "tmax": ("tmax", "degC", "daily maximum air temperature"),
    "tmin": ("tmin", "degC", "daily minimum air temperature"),
    "vp": ("vp", "Pa", "water vapour pressure"),
}
FORCING_HEADER_LINES = 4


@dataclass
class CamelsUS:
    """Reads CAMELS-US basins from the original text files for one forcing product."""

    source_path: Path
    forcing: str = "daymet"
    wanted: list[str] | None = None
    attributes_dir: Path | None = None
    kind: str = "camels-us"
    basins: list[str] = field(init=False)
    dynamic_variables: list[Variable] = field(init=False)
    extra_attrs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        if self.forcing not in FORCINGS:
            choices = ", ".join(FORCINGS)
            raise IngestError(f"unknown --forcing {self.forcing!r} for camels-us ({choices})")
        root = require_dir(self.source_path, "CAMELS-US")
        forcing_dir = require_dir(root / "basin_mean_forcing" / self.forcing, "forcing")
        self._flow_dir = require_dir(root / "usgs_streamflow", "streamflow")
        attributes = self.attributes_dir or root / "camels_attributes_v2.0"
        self._attributes_dir = require_dir(attributes, "attributes")
        self._forcing_files = _files_by_basin(forcing_dir.rglob("*_forcing_leap.txt"))
        self.basins = select_basins(list(self._forcing_files), self.wanted, forcing_dir)
        self._areas_km2: dict[str, float] = {}
        self.dynamic_variables = [Variable(*spec) for spec in FORCING_COLUMNS.values()]
        self.dynamic_variables.append(Variable("streamflow", *CANONICAL["streamflow"]))
        self.extra_attrs = {"forcing": self.forcing, STREAMFLOW_AREA: "area"}

    def read_basin(self, basin: str) -> pd.DataFrame:
        forcing, area_km2 = _read_forcing(self._forcing_files[basin])
        self._areas_km2[basin] = area_km2
        flow_file = self._flow_file(basin)
        q_cfs = _read_streamflow(flow_file)
        q_mm_per_day = convert(q_cfs, "cfs", "mm/day", area_km2=area_km2)
        return require_storable(
            forcing.join(q_mm_per_day.rename("streamflow"), how="outer"), flow_file, None
        )

    def read_attributes(self) -> tuple[pd.DataFrame, list[Variable]]:
        files = sorted(self._attributes_dir.glob("camels_*.txt"))
        if not files:
            raise IngestError(f"{self._attributes_dir}: no camels_*.txt attribute tables")
        tables = [(f, read_attribute_table(f, sep=";", encoding="latin-1")) for f in files]
        merged, unusable = merge_attribute_tables(tables, self.basins)
        merged["area"] = [self._header_area_km2(b) for b in self.basins]
        units, long_names = documented_attributes("camels_us")
        units["area"], long_names["area"] = (
            CANONICAL["area"][0],
            ("catchment area from the forcing file header (used for mm/day <-> m3/s)"),
        )
        return attribute_variables(merged, units, long_names, unusable)

    def _flow_file(self, basin: str) -> Path:
        matches = sorted(self._flow_dir.rglob(f"{basin}_streamflow_qc.txt"))
        if not matches:
            raise IngestError(f"{self._flow_dir}: no streamflow file for basin {basin}")
        return matches[0]

    def _header_area_km2(self, basin: str) -> float:
        if basin not in self._areas_km2:
            self._areas_km2[basin] = _read_header_area_km2(self._forcing_files[basin])
        return self._areas_km2[basin]


def _files_by_basin(files) -> dict[str, Path]:
    """Map basin id (the file name's first field) to its file."""
    return {f.name.split("_", 1)[0]: f for f in sorted(files)}


def _read_header_area_km2(file: Path) -> float:
    lines = file.read_text(errors="replace").splitlines()[:3]
    try:
        area_m2 = float(lines[2])
    except (IndexError, ValueError):
        area_m2 = np.nan
    if not 0 < area_m2 < np.inf:  # streamflow in mm/day is divided by it
        raise IngestError(f"{file}: line 3 should hold the basin area in m2 (a positive number)")
    return convert(area_m2, "m2", "km2")


def _read_forcing(file: Path) -> tuple[pd.DataFrame, float]:
    """Daily forcing with store column names, and the header's basin area in km2."""
    area_km2 = _read_header_area_km2(file)
    raw = read_table(file, sep=r"\s+", skiprows=3)
    names = {c: c.split("(")[0].strip().lower() for c in raw.columns}
    raw = raw.rename(columns=names)
    require_columns(raw.columns, ["year", "mnth", "day", *FORCING_COLUMNS], file)
    first_line = FORCING_HEADER_LINES + 1
    dates = dates_from_parts(raw["year"], raw["mnth"], raw["day"], file, first_line)
    values = numeric_columns(raw, list(FORCING_COLUMNS), file, first_line)
    values = values.mask(values == MISSING)
    values.index = daily_index(dates, file, first_line)
    return values.rename(columns={k: v[0] for k, v in FORCING_COLUMNS.items()}), area_km2


def _read_streamflow(file: Path) -> pd.Series:
    """Observed discharge in cfs with -999 as NaN."""
    raw = read_table(file, sep=r"\s+", header=None, names=range(6))
    if raw[4].isna().all():
        raise IngestError(f"{file}: expected columns 'gauge year month day Q flag'")
    dates = dates_from_parts(raw[1], raw[2], raw[3], file, 1)
    q = numeric_columns(raw, [4], file, 1)[4]
    q = q.mask(q == MISSING)
    q.index = daily_index(dates, file, 1)
    return q.astype(np.float64)
