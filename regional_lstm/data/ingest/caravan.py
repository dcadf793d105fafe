"""Caravan (Kratzert et al. 2023, Sci. Data 10, 61) in its published layout.

``timeseries/csv/<prefix>/<prefix>_<id>.csv`` (``date`` column, empty cells missing), or
``timeseries/netcdf/<prefix>/<prefix>_<id>.nc`` (dimension ``date``, a ``units`` attribute per
variable) where there is no csv folder; basin ids are the file stems, e.g. ``camelsch_4001``.
``attributes/<prefix>/attributes_{caravan,hydroatlas,other}_<prefix>.csv`` keyed by ``gauge_id``.

Variables keep their Caravan names. Only the columns of the Caravan README's units table are
ingested; any other column (user additions) is skipped and named in the store attrs. Caravan has
no observed SWE: the ERA5-Land ``snow_depth_water_equivalent_*`` stay inputs under their names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from regional_lstm.data.ingest.attributes import (
    UnusableCells,
    attribute_variables,
    merge_attribute_tables,
    warn_missing_rows,
)
from regional_lstm.data.ingest.common import (
    daily_index,
    documented_attributes,
    read_daily_table,
    read_table,
    require_columns,
    require_dir,
    require_storable,
    select_basins,
)
from regional_lstm.data.store import CANONICAL, Variable
from regional_lstm.errors import IngestError

logger = logging.getLogger(__name__)

# Caravan README "Units of time series data": ERA5-Land variable -> (units, long name), each
# as its daily mean, min and max.
ERA5_LAND_STATES = {
    "snow_depth_water_equivalent": ("mm", "snow water equivalent (ERA5-Land)"),
    "surface_net_solar_radiation": ("W/m2", "surface net solar radiation (ERA5-Land)"),
    "surface_net_thermal_radiation": ("W/m2", "surface net thermal radiation (ERA5-Land)"),
    "surface_pressure": ("kPa", "surface pressure (ERA5-Land)"),
    "temperature_2m": ("degC", "2 m air temperature (ERA5-Land)"),
    "dewpoint_temperature_2m": ("degC", "2 m dewpoint temperature (ERA5-Land)"),
    "u_component_of_wind_10m": ("m/s", "u-component of wind at 10 m (ERA5-Land)"),
    "v_component_of_wind_10m": ("m/s", "v-component of wind at 10 m (ERA5-Land)"),
    "volumetric_soil_water_layer_1": ("m3/m3", "volumetric soil water, 0-7 cm (ERA5-Land)"),
    "volumetric_soil_water_layer_2": ("m3/m3", "volumetric soil water, 7-28 cm (ERA5-Land)"),
    "volumetric_soil_water_layer_3": ("m3/m3", "volumetric soil water, 28-100 cm (ERA5-Land)"),
    "volumetric_soil_water_layer_4": ("m3/m3", "volumetric soil water, 100-289 cm (ERA5-Land)"),
}
AGGREGATIONS = ("mean", "min", "max")
# Caravan column -> (units, long name), in the order of the Caravan csv files.
CARAVAN_COLUMNS = {
    f"{name}_{aggregation}": (units, f"{long_name}, daily {aggregation}")
    for aggregation in AGGREGATIONS
    for name, (units, long_name) in ERA5_LAND_STATES.items()
} | {
    "total_precipitation_sum": ("mm/day", "total precipitation (ERA5-Land), daily sum"),
    "potential_evaporation_sum": ("mm/day", "potential evapotranspiration (ERA5-Land), daily sum"),
    "streamflow": CANONICAL["streamflow"],
}
ATTRIBUTE_TOPICS = ("caravan", "hydroatlas", "other")
FORMATS = {"csv": ".csv", "netcdf": ".nc"}


@dataclass
class Caravan:
    """Reads Caravan basins of one or several source datasets (prefixes)."""

    source_path: Path
    wanted: list[str] | None = None
    kind: str = "caravan"
    basins: list[str] = field(init=False)
    dynamic_variables: list[Variable] = field(init=False)
    extra_attrs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        root = require_dir(self.source_path, "Caravan")
        series_root = require_dir(root / "timeseries", "Caravan time series")
        self._format = next((f for f in FORMATS if (series_root / f).is_dir()), None)
        if self._format is None:
            raise IngestError(f"{series_root}: no csv or netcdf folder")
        series_dir = series_root / self._format
        self._attributes_dir = require_dir(root / "attributes", "attributes")
        self._files = {
            f.stem: f
            for f in sorted(series_dir.glob(f"*/*{FORMATS[self._format]}"))
            if f.stem.startswith(f"{f.parent.name}_")
        }
        self.basins = select_basins(list(self._files), self.wanted, series_dir)
        headers = {basin: self._header(basin) for basin in self.basins}
        found = {name for header in headers.values() for name in header}
        names = [n for n in CARAVAN_COLUMNS if n in found or n == "streamflow"]
        for basin, header in headers.items():
            require_columns(header, names, self._files[basin])
        self.dynamic_variables = [self._variable(name, headers) for name in names]
        skipped = sorted(found - set(CARAVAN_COLUMNS))
        if skipped:
            logger.info("%s: skipping columns outside Caravan: %s", series_dir, ", ".join(skipped))
        self.extra_attrs = {"skipped_columns": ",".join(skipped)} if skipped else {}

    def read_basin(self, basin: str) -> pd.DataFrame:
        names = [v.name for v in self.dynamic_variables]
        file = self._files[basin]
        if self._format == "netcdf":
            return _read_netcdf(file, names)
        return read_daily_table(file, names)

    def read_attributes(self) -> tuple[pd.DataFrame, list[Variable]]:
        prefixes = sorted({self._files[b].parent.name for b in self.basins})
        tables = []
        gaps: dict[Path, list[str]] = {}
        unusable: list[UnusableCells] = []
        for topic in ATTRIBUTE_TOPICS:
            parts = [self._attribute_table(topic, prefix, gaps, unusable) for prefix in prefixes]
            tables.append((Path(f"attributes_{topic}"), pd.concat(parts)))
        merged, _ = merge_attribute_tables(tables, self.basins, warn=False)
        warn_missing_rows(gaps)
        units, long_names = documented_attributes("caravan")
        units["area"], long_names["area"] = CANONICAL["area"]
        return attribute_variables(merged, units, long_names, unusable)

    def _header(self, basin: str) -> dict[str, str | None]:
        """Variable names of a basin's file with their ``units`` attribute (None in csv)."""
        file = self._files[basin]
        if self._format == "netcdf":
            with _open_netcdf(file) as ds:
                return {str(n): ds[n].attrs.get("units") for n in ds.data_vars}
        header = read_table(file, nrows=0).columns
        return {str(n): None for n in header if n != "date"}

    def _variable(self, name: str, headers: dict[str, dict[str, str | None]]) -> Variable:
        """The variable with the units its netCDF files state, else the Caravan table's."""
        units, long_name = CARAVAN_COLUMNS[name]
        stated = {basin: h[name] for basin, h in headers.items() if h[name] is not None}
        if stated:
            first, units = next(iter(stated.items()))
            for basin, other in stated.items():
                if other != units:
                    raise IngestError(
                        f"{self._files[basin]}: variable {name!r} has units {other!r}, "
                        f"but {units!r} in {self._files[first].name}"
                    )
        return Variable(name, units, long_name)

    def _attribute_table(
        self,
        topic: str,
        prefix: str,
        gaps: dict[Path, list[str]],
        unusable: list[UnusableCells],
    ) -> pd.DataFrame:
        """One prefix's table for one topic, a row per selected basin (NaN where it has none:
        added to ``gaps``; NaN for cells of no usable number: added to ``unusable``), checked
        to hold each basin once."""
        file = self._attributes_dir / prefix / f"attributes_{topic}_{prefix}.csv"
        if not file.is_file():
            raise IngestError(f"{file}: attribute table not found")
        table = read_table(file)
        require_columns(table.columns, ["gauge_id", *(["area"] if topic == "other" else [])], file)
        table = table.set_index(table["gauge_id"].str.strip()).drop(columns="gauge_id")
        basins = [b for b in self.basins if self._files[b].parent.name == prefix]
        missing = [b for b in basins if b not in table.index]
        if missing:
            gaps[file] = missing
        merged, found = merge_attribute_tables([(file, table)], basins, warn=False)
        unusable += found
        return merged


def _open_netcdf(file: Path) -> xr.Dataset:
    try:
        return xr.open_dataset(file, engine="netcdf4")
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise IngestError(f"{file}: cannot be read as netCDF ({reason})") from None


def _read_netcdf(file: Path, names: list[str]) -> pd.DataFrame:
    """Daily values of ``names`` from a Caravan netCDF file (dimension ``date``)."""
    with _open_netcdf(file) as ds:
        require_columns(list(ds.data_vars), names, file)
        selected = ds[names]
        if set(selected.dims) != {"date"} or not np.issubdtype(ds["date"].dtype, np.datetime64):
            raise IngestError(f"{file}: variables should have the one dimension 'date' (dates)")
        frame = selected.to_dataframe().astype(np.float64)
    frame.index = daily_index(pd.DatetimeIndex(frame.index), file, None)
    return require_storable(frame, file, None)
