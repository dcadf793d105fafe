"""The synthetic basins as a ``BasinSource``, and `synthesize`, which writes them to a store.

Every basin ``synNNNN`` is reproducible on its own: its static attributes come from
``default_rng([seed, N, 0])``, its weather from ``[seed, N, 1]``, its parameter noise and
observation errors from ``[seed, N, 2]`` and its missing-data pattern from ``[seed, N, 3]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.data.store import CANONICAL, STREAMFLOW_AREA, Variable, write_store
from regional_lstm.data.synth.constants import CONSTANTS
from regional_lstm.data.synth.hydrology import model_parameters, simulate
from regional_lstm.data.synth.weather import climate_attributes, make_forcings
from regional_lstm.errors import ConfigError
from regional_lstm.locations import Location

KIND = "synthetic"
ID_PREFIX = "syn"
DYNAMIC_VARIABLES = [
    Variable("prcp", "mm/day", "precipitation"),
    Variable("tmin", "degC", "daily minimum air temperature"),
    Variable("tmax", "degC", "daily maximum air temperature"),
    Variable("srad", "W/m2", "incoming shortwave radiation (daylight average)"),
    Variable("pet", "mm/day", "potential evapotranspiration (Hargreaves)"),
    Variable("dayl", "s", "day length"),
    Variable("streamflow", *CANONICAL["streamflow"]),
    Variable("swe", *CANONICAL["swe"]),
]
ATTRIBUTE_VARIABLES = [
    Variable("area", *CANONICAL["area"]),
    Variable("gauge_lat", "degrees_north", "gauge latitude"),
    Variable("elev_mean", "m", "catchment mean elevation"),
    Variable("frac_forest", "1", "forest fraction"),
    Variable("soil_depth", "m", "soil depth"),
    Variable("p_seasonality", "1", "seasonality of wet-day frequency (>0: summer maximum)"),
    Variable("p_mean", "mm/day", "mean daily precipitation"),
    Variable("pet_mean", "mm/day", "mean daily potential evapotranspiration"),
    Variable("aridity", "1", "aridity (PET/P)"),
    Variable("frac_snow", "1", "fraction of precipitation falling on days below 0 degC"),
]


@dataclass
class SyntheticSource:
    """A ``BasinSource`` that simulates each basin when the store writer asks for it."""

    n_basins: int = 20
    years: int = 10
    seed: int = 0
    start: str = "1990-01-01"
    gap_fraction: float = 0.0
    kind: str = KIND
    source_path: Path = Path("<synthetic>")
    basins: list[str] = field(init=False)
    dynamic_variables: list[Variable] = field(init=False)
    extra_attrs: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        _check_arguments(self.n_basins, self.years, self.seed, self.gap_fraction)
        start = _parse_start(self.start)
        self._dates = pd.date_range(
            start, start + pd.DateOffset(years=self.years) - pd.Timedelta(days=1), freq="D"
        )
        self.basins = [f"{ID_PREFIX}{n:04d}" for n in range(1, self.n_basins + 1)]
        self.dynamic_variables = list(DYNAMIC_VARIABLES)
        self.extra_attrs = {
            "synthetic_seed": str(self.seed),
            "synthetic_years": str(self.years),
            "synthetic_start": str(start.date()),
            "synthetic_gap_fraction": str(self.gap_fraction),
            "synthetic_constants": json.dumps(asdict(CONSTANTS)),
            "synthetic_generator": "regional_lstm.data.synth (see datasets/synthetic.md)",
            STREAMFLOW_AREA: "area",  # discharge is defined as the mm/day times this area
        }

    def read_basin(self, basin: str) -> pd.DataFrame:
        number = _basin_number(basin)
        drawn = draw_attributes(self.seed, number)
        forcings = make_forcings(drawn, self._dates, _rng(self.seed, number, 1))
        noise = _rng(self.seed, number, 2)
        parameters = model_parameters(drawn, noise)
        streamflow, swe = simulate(forcings, parameters)
        streamflow *= np.exp(CONSTANTS.streamflow_noise_sd * noise.standard_normal(len(swe)))
        if self.gap_fraction > 0:
            gaps = _rng(self.seed, number, 3)
            streamflow[gap_mask(len(streamflow), self.gap_fraction, gaps)] = np.nan
            swe[: round(len(swe) * CONSTANTS.swe_record_start_fraction)] = np.nan
        return pd.DataFrame({**forcings, "streamflow": streamflow, "swe": swe}, index=self._dates)

    def read_attributes(self) -> tuple[pd.DataFrame, list[Variable]]:
        # The store writer asks for attributes before any basin, so the climate indices
        # regenerate each basin's weather (about a sixth of its cost) rather than keep it.
        rows = {}
        for basin in self.basins:
            number = _basin_number(basin)
            drawn = draw_attributes(self.seed, number)
            forcings = make_forcings(drawn, self._dates, _rng(self.seed, number, 1))
            rows[basin] = {**drawn, **climate_attributes(forcings)}
        names = [v.name for v in ATTRIBUTE_VARIABLES]
        table = pd.DataFrame.from_dict(rows, orient="index")[names].astype(np.float64)
        return table, list(ATTRIBUTE_VARIABLES)


def synthesize(
    out: str | Path | Location,
    *,
    basins: int = 20,
    years: int = 10,
    seed: int = 0,
    start: str = "1990-01-01",
    gap_fraction: float = 0.0,
    overwrite: bool = False,
    workers: int | None = None,
) -> Path | Location:
    """Simulate ``basins`` synthetic basins for ``years`` years into a new store at ``out``.

    ``gap_fraction > 0`` switches on realistic missing data: that fraction of streamflow days
    is missing in contiguous runs, and SWE is observed only from a third into the record.
    Each basin is seeded on its own, so ``workers`` processes (default: one per core) give the
    same store as one.
    """
    source = SyntheticSource(basins, years, seed, start, gap_fraction)
    return write_store(source, out, overwrite=overwrite, workers=workers)


def _check_arguments(basins: int, years: int, seed: int, gap_fraction: float) -> None:
    if basins < 1:
        raise ConfigError(f"--basins must be at least 1 (got {basins})")
    if years < 1:
        raise ConfigError(f"--years must be at least 1 (got {years})")
    if seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer (got {seed})")
    if not 0 <= gap_fraction < 1:
        raise ConfigError(f"--gaps must be a fraction in [0, 1) (got {gap_fraction})")


def _parse_start(start: str) -> pd.Timestamp:
    try:
        parsed = pd.Timestamp(start)
    except ValueError:
        parsed = pd.NaT
    if pd.isna(parsed):
        raise ConfigError(f"--start must be a date such as 1990-01-01 (got {start!r})")
    return parsed.normalize()


def _rng(seed: int, number: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, number, stream])


def _basin_number(basin: str) -> int:
    return int(basin.removeprefix(ID_PREFIX))


def draw_attributes(seed: int, number: int) -> dict[str, float]:
    """The static attributes of basin ``number`` that the generator draws (not computes)."""
    rng = _rng(seed, number, 0)
    return {
        "area": float(10 ** rng.uniform(1, math.log10(5000))),
        "gauge_lat": float(rng.uniform(28, 50)),
        "elev_mean": float(20 + 2800 * rng.beta(1.2, 3.0)),
        "frac_forest": float(rng.beta(1.5, 1.5)),
        "soil_depth": float(rng.uniform(0.2, 2.0)),
        "p_seasonality": float(rng.uniform(-0.6, 0.6)),
        "wetness": float(rng.uniform(0, 1)),
    }


def gap_mask(n_days: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Days to hide: contiguous runs (log-normal lengths) until ``fraction`` of days is hidden."""
    hidden = np.zeros(n_days, dtype=bool)
    target = round(fraction * n_days)
    count = 0
    while count < target:
        length = min(
            round(rng.lognormal(math.log(CONSTANTS.median_gap_days), 1.0)) + 1, target - count
        )
        first = int(rng.integers(0, n_days - length + 1))
        count += int((~hidden[first : first + length]).sum())
        hidden[first : first + length] = True
    return hidden
