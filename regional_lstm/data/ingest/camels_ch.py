"""CAMELS-CH in its original layout (Höge et al. 2023, ESSD 15, 5755-5784).

``time_series/observation_based/CAMELS_CH_obs_based_<id>.csv``: comma-separated daily series,
a ``date`` column and one column per variable named ``<variable>(<unit>)``, ``NaN`` missing.
``static_attributes/CAMELS_CH_*.csv``: one table per topic keyed by ``gauge_id``, each after one
``#`` comment line; the topographic table is ISO-8859-1 encoded, the others ASCII. The
``simulation_based`` and ``supplements`` subfolders are not read.

``discharge_spec`` (mm/d) becomes the store's ``streamflow``; ``swe`` (the SLF snow product) is
kept as ``swe``; every other series keeps its name, with the header's unit as its ``units``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from regional_lstm.data.ingest.attributes import (
    attribute_variables,
    merge_attribute_tables,
)
from regional_lstm.data.ingest.common import (
    documented_attributes,
    read_attribute_table,
    read_daily_table,
    require_columns,
    require_dir,
    select_basins,
)
from regional_lstm.data.store import CANONICAL, STREAMFLOW_AREA, Variable
from regional_lstm.errors import IngestError

SERIES_PREFIX = "CAMELS_CH_obs_based_"
TOPOGRAPHIC_TABLE = "CAMELS_CH_topographic_attributes.csv"
# Source column -> (store name, units, long name); units are the header's "(unit)" suffix.
SERIES_COLUMNS = {
    "discharge_vol(m3/s)": ("discharge_vol", "m3/s", "observed discharge"),
    "discharge_spec(mm/d)": ("streamflow", *CANONICAL["streamflow"]),
    "waterlevel(m)": ("waterlevel", "m", "observed water level"),
    "precipitation(mm/d)": ("precipitation", "mm/d", "precipitation"),
    "temperature_min(degC)": ("temperature_min", "degC", "daily minimum air temperature"),
    "temperature_mean(degC)": ("temperature_mean", "degC", "daily mean air temperature"),
    "temperature_max(degC)": ("temperature_max", "degC", "daily maximum air temperature"),
    "rel_sun_dur(%)": ("rel_sun_dur", "%", "relative sunshine duration"),
    "swe(mm)": ("swe", *CANONICAL["swe"]),
}


@dataclass
class CamelsCH:
    """Reads CAMELS-CH basins from the observation-based series and the static attributes."""

    source_path: Path
    wanted: list[str] | None = None
    kind: str = "camels-ch"
    basins: list[str] = field(init=False)
    dynamic_variables: list[Variable] = field(init=False)
    extra_attrs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        root = require_dir(self.source_path, "CAMELS-CH")
        series_dir = require_dir(root / "time_series" / "observation_based", "time series")
        self._attributes_dir = require_dir(root / "static_attributes", "static attributes")
        self._series_files = {
            f.stem.removeprefix(SERIES_PREFIX): f
            for f in sorted(series_dir.glob(f"{SERIES_PREFIX}*.csv"))
        }
        self.basins = select_basins(list(self._series_files), self.wanted, series_dir)
        self.dynamic_variables = [Variable(*spec) for spec in SERIES_COLUMNS.values()]
        # discharge_spec is discharge_vol over the topographic table's area (checked on 4 basins:
        # their medians agree within the 0.1 km2 the area is rounded to).
        self.extra_attrs = {STREAMFLOW_AREA: "area"}

    def read_basin(self, basin: str) -> pd.DataFrame:
        values = read_daily_table(self._series_files[basin], list(SERIES_COLUMNS))
        return values.rename(columns={k: v[0] for k, v in SERIES_COLUMNS.items()})

    def read_attributes(self) -> tuple[pd.DataFrame, list[Variable]]:
        topographic = self._attributes_dir / TOPOGRAPHIC_TABLE
        if not topographic.is_file():
            raise IngestError(f"{topographic}: attribute table not found")
        files = sorted(self._attributes_dir.glob("CAMELS_CH_*.csv"))
        tables = [(f, _read_attribute_table(f)) for f in files]
        require_columns(dict(tables)[topographic].columns, ["area"], topographic)
        merged, unusable = merge_attribute_tables(tables, self.basins)
        units, long_names = documented_attributes("camels_ch")
        units["area"], long_names["area"] = CANONICAL["area"]
        return attribute_variables(merged, units, long_names, unusable)


def _read_attribute_table(file: Path) -> pd.DataFrame:
    """One topic table keyed by ``gauge_id``, skipping its leading ``#`` description line."""
    with file.open("rb") as handle:
        comment = handle.readline().lstrip().startswith(b"#")
    return read_attribute_table(file, skiprows=1 if comment else 0)
