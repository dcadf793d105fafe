"""Synthetic basins from a small conceptual model, written by the same store writer as ingests.

Every basin ``synNNNN`` is reproducible on its own: its static attributes come from
``default_rng([seed, N, 0])``, its weather from ``[seed, N, 1]``, its parameter noise and
observation errors from ``[seed, N, 2]`` and its missing-data pattern from ``[seed, N, 3]``.
The model parameters are functions of the attributes, which is the mapping a regional model
has to learn. The equations and the variables are described in ``datasets/synthetic.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.data.store import CANONICAL, Variable, write_store
from regional_lstm.errors import ConfigError

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


@dataclass(frozen=True)
class GeneratorConstants:
    """Fixed constants of the generator, recorded in the store attrs for reproducibility."""

    lapse_rate_k_per_km: float = 6.5
    temperature_ar1: float = 0.75
    temperature_anomaly_sd_degc: float = 2.5
    wet_day_gamma_shape: float = 0.75
    snow_threshold_degc: float = 0.5
    melt_threshold_degc: float = 0.0
    et_limit_fraction: float = 0.7
    streamflow_noise_sd: float = 0.05
    median_gap_days: float = 12.0
    swe_record_start_fraction: float = 1 / 3


CONSTANTS = GeneratorConstants()


@dataclass(frozen=True)
class ModelParameters:
    """Parameters of one basin's conceptual model, derived from its attributes."""

    snow_threshold_degc: float
    melt_factor_mm_per_degc_day: float
    soil_capacity_mm: float
    infiltration_capacity_mm_per_day: float
    runoff_shape: float
    baseflow_fraction: float
    fast_recession_days: float
    slow_recession_days: float
    routing_base_days: float


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
    out: str | Path,
    *,
    basins: int = 20,
    years: int = 10,
    seed: int = 0,
    start: str = "1990-01-01",
    gap_fraction: float = 0.0,
    overwrite: bool = False,
    on_basin: Callable[[str], None] | None = None,
) -> Path:
    """Simulate ``basins`` synthetic basins for ``years`` years into a new store at ``out``.

    ``gap_fraction > 0`` switches on realistic missing data: that fraction of streamflow days
    is missing in contiguous runs, and SWE is observed only from a third into the record.
    """
    source = SyntheticSource(basins, years, seed, start, gap_fraction)
    return write_store(source, out, overwrite=overwrite, on_basin=on_basin)


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


def make_forcings(
    drawn: dict[str, float], dates: pd.DatetimeIndex, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Daily weather for one basin: seasonal cycles by latitude, AR(1) and Markov-chain noise."""
    n_days = len(dates)
    day_of_year = dates.day_of_year.to_numpy()
    radiation_mj, daylength_s = _astronomy(drawn["gauge_lat"], day_of_year)
    wetness = drawn["wetness"]
    # Seasonal cycle peaking in mid-July; colder and more seasonal towards the pole.
    season = np.sin(2 * np.pi * (day_of_year - 105) / 365.25)
    annual_degc = (
        26
        - 0.55 * (drawn["gauge_lat"] - 25)
        - CONSTANTS.lapse_rate_k_per_km * drawn["elev_mean"] / 1000
    )
    amplitude_degc = 4 + 0.35 * (drawn["gauge_lat"] - 25) + 3 * (1 - wetness)
    anomaly = _ar1(rng, n_days, CONSTANTS.temperature_ar1)
    tmean = annual_degc + amplitude_degc * season + CONSTANTS.temperature_anomaly_sd_degc * anomaly

    wet = _wet_days(wetness, drawn["p_seasonality"] * season, rng.random(n_days))
    shape = CONSTANTS.wet_day_gamma_shape
    amount = rng.gamma(shape, _wet_day_mean_mm(wetness) / shape, n_days)
    prcp = np.where(wet, amount, 0.0)

    # Clouds on wet days: a smaller diurnal range and less sunshine.
    diurnal_range = 9 + 5 * (1 - wetness) - 3.5 * wet
    tmax = tmean + diurnal_range / 2
    tmin = tmean - diurnal_range / 2
    sunshine = np.where(wet, 0.25, 0.7) + rng.uniform(-0.1, 0.1, n_days)
    shortwave_mj = (0.25 + 0.5 * sunshine) * radiation_mj
    hargreaves = 0.0023 * 0.408 * radiation_mj * (tmean + 17.8) * np.sqrt(diurnal_range)
    return {
        "prcp": prcp,
        "tmin": tmin,
        "tmax": tmax,
        "srad": shortwave_mj * 1e6 / daylength_s,
        "pet": np.maximum(hargreaves, 0.0),
        "dayl": daylength_s,
    }


def _astronomy(latitude_deg: float, day_of_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extraterrestrial radiation [MJ/m2/day] and day length [s] (FAO-56 eqs. 21-25, 34)."""
    latitude = math.radians(latitude_deg)
    angle = 2 * np.pi * day_of_year / 365
    inverse_distance = 1 + 0.033 * np.cos(angle)
    declination = 0.409 * np.sin(angle - 1.39)
    sunset = np.arccos(np.clip(-math.tan(latitude) * np.tan(declination), -1, 1))
    radiation = (
        (24 * 60 / np.pi)
        * 0.0820
        * inverse_distance
        * (
            sunset * math.sin(latitude) * np.sin(declination)
            + math.cos(latitude) * np.cos(declination) * np.sin(sunset)
        )
    )
    return radiation, sunset * 24 / np.pi * 3600


def _ar1(rng: np.random.Generator, n_days: int, phi: float) -> np.ndarray:
    """Unit-variance AR(1) series, as its impulse response truncated where phi**k < 1e-12."""
    lags = int(math.log(1e-12) / math.log(phi)) + 1
    kernel = phi ** np.arange(lags) * math.sqrt(1 - phi**2)
    innovations = rng.standard_normal(n_days + lags)
    return np.convolve(innovations, kernel)[lags : lags + n_days]


def _transition_probabilities(
    wetness: float, seasonal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(wet | dry) and P(wet | wet): wetter climates start and keep wet spells more often."""
    dry_to_wet = np.clip((0.08 + 0.30 * wetness) * (1 + seasonal), 0.01, 0.9)
    return dry_to_wet, np.minimum(dry_to_wet + 0.25 + 0.15 * wetness, 0.95)


def _wet_days(wetness: float, seasonal: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Two-state Markov chain of wet days, vectorised over time.

    With persistence (P(wet | wet) >= P(wet | dry) every day), day t is wet exactly when
    some day k <= t would have turned wet from dry (u_k < p01_k) and every day after k
    kept it wet (u_j < p11_j): compare the last such k with the last day that broke a spell.
    """
    p01, p11 = _transition_probabilities(wetness, seasonal)
    days = np.arange(len(uniform))
    last_onset = np.maximum.accumulate(np.where(uniform < p01, days, -1))
    last_break = np.maximum.accumulate(np.where(uniform >= p11, days, -1))
    return last_onset > last_break


def _wet_day_mean_mm(wetness: float) -> float:
    """Mean wet-day amount giving a long-term mean of 1.5-6 mm/day as wetness goes 0 to 1."""
    p01, p11 = _transition_probabilities(wetness, np.zeros(1))
    wet_fraction = float((p01 / (1 - p11 + p01))[0])
    return (1.5 + 4.5 * wetness**1.3) / wet_fraction


def climate_attributes(forcings: dict[str, np.ndarray]) -> dict[str, float]:
    """CAMELS-style climate indices computed from the generated forcings."""
    prcp = forcings["prcp"]
    tmean = (forcings["tmin"] + forcings["tmax"]) / 2
    p_mean = float(prcp.mean())
    pet_mean = float(forcings["pet"].mean())
    return {
        "p_mean": p_mean,
        "pet_mean": pet_mean,
        "aridity": pet_mean / p_mean,
        "frac_snow": float(prcp[tmean < 0].sum() / prcp.sum()),
    }


def model_parameters(drawn: dict[str, float], rng: np.random.Generator) -> ModelParameters:
    """The conceptual model's parameters: functions of the attributes times small noise."""
    normal = rng.standard_normal(8)
    noise = np.exp(0.1 * normal)
    elev_km = drawn["elev_mean"] / 1000
    log_area = math.log10(drawn["area"])
    return ModelParameters(
        snow_threshold_degc=CONSTANTS.snow_threshold_degc + 0.3 * float(normal[0]),
        # Higher basins see more sun and wind on the pack; forest shades it.
        melt_factor_mm_per_degc_day=(2.5 + 1.0 * elev_km - 1.2 * drawn["frac_forest"]) * noise[1],
        soil_capacity_mm=(50 + 200 * drawn["soil_depth"] * (0.7 + 0.6 * drawn["frac_forest"]))
        * noise[2],
        # Forest litter and deep soils take in intense rain that bare shallow soils shed.
        infiltration_capacity_mm_per_day=(15 + 25 * drawn["frac_forest"] + 10 * drawn["soil_depth"])
        * noise[7],
        runoff_shape=(1 + 2 * drawn["frac_forest"]) * noise[3],
        baseflow_fraction=min(0.2 + 0.2 * drawn["soil_depth"], 0.8),
        fast_recession_days=(1 + 0.9 * log_area) * noise[4],
        slow_recession_days=(20 + 20 * log_area + 30 * drawn["soil_depth"]) * noise[5],
        routing_base_days=(1 + log_area / 1.5) * noise[6],
    )


def simulate(
    forcings: dict[str, np.ndarray], parameters: ModelParameters
) -> tuple[np.ndarray, np.ndarray]:
    """Streamflow [mm/day] and SWE [mm] of one basin, with states spun up over the first year."""
    tmean = (forcings["tmin"] + forcings["tmax"]) / 2
    snow_fraction = np.clip((parameters.snow_threshold_degc + 1 - tmean) / 2, 0, 1)
    snowfall = forcings["prcp"] * snow_fraction
    rain = forcings["prcp"] - snowfall
    potential_melt = parameters.melt_factor_mm_per_degc_day * np.maximum(
        tmean - CONSTANTS.melt_threshold_degc, 0
    )
    spin_up = min(365, len(tmean))
    initial_swe = _snowpack(snowfall[:spin_up], potential_melt[:spin_up], 0.0)[-1]
    swe = _snowpack(snowfall, potential_melt, initial_swe)
    melt = np.concatenate([[initial_swe], swe[:-1]]) + snowfall - swe
    liquid = rain + melt

    pet = forcings["pet"]
    states = _spun_up_states(liquid[:spin_up], pet[:spin_up], parameters)
    runoff, _ = _soil_and_reservoirs(liquid, pet, parameters, states)
    return _route(runoff, parameters.routing_base_days), swe


def _snowpack(snowfall: np.ndarray, potential_melt: np.ndarray, initial_mm: float) -> np.ndarray:
    """Degree-day snowpack W_t = max(0, W_{t-1} + snowfall_t - melt_t), in closed form.

    This Lindley recursion solves to W_t = C_t - min(-W_0, C_1..C_t) with C the cumulative
    sum of snowfall minus potential melt.
    """
    cumulative = np.cumsum(snowfall - potential_melt)
    floor = np.minimum.accumulate(np.concatenate([[-initial_mm], cumulative]))[1:]
    return cumulative - floor


def _spun_up_states(
    liquid: np.ndarray, pet: np.ndarray, parameters: ModelParameters
) -> tuple[float, float, float]:
    """Soil, fast and slow storages after a spin-up year, the slow one set to equilibrium.

    The slow reservoir needs years to fill from empty; at equilibrium it holds its mean
    inflow times its recession time.
    """
    outflow, (soil, fast, slow) = _soil_and_reservoirs(
        liquid, pet, parameters, (0.5 * parameters.soil_capacity_mm, 0.0, 0.0)
    )
    # Runoff that entered the (initially empty) reservoirs has left them or is still there.
    runoff_mean = (outflow.sum() + fast + slow) / len(outflow)
    slow = parameters.baseflow_fraction * runoff_mean * parameters.slow_recession_days
    return soil, fast, slow


def _soil_and_reservoirs(
    liquid: np.ndarray,
    pet: np.ndarray,
    parameters: ModelParameters,
    states: tuple[float, float, float],
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """HBV-like soil bucket feeding a fast and a slow linear reservoir, one day at a time.

    Water beyond the infiltration capacity runs off the surface into the fast reservoir.
    Returns the daily outflow [mm/day] and the final soil, fast and slow storages [mm].
    Plain floats and a shortcut for dry days: this loop is the generator's hot path.
    """
    capacity = parameters.soil_capacity_mm
    infiltration = parameters.infiltration_capacity_mm_per_day
    shape = parameters.runoff_shape
    et_limit = CONSTANTS.et_limit_fraction * capacity
    to_slow = parameters.baseflow_fraction
    to_fast = 1 - to_slow
    fast_rate = 1 / parameters.fast_recession_days
    slow_rate = 1 / parameters.slow_recession_days
    fast_keep, slow_keep = 1 - fast_rate, 1 - slow_rate
    soil, fast, slow = states
    outflow = []
    for water, demand in zip(liquid.tolist(), pet.tolist(), strict=True):
        if water > 0.0:
            surface = water - infiltration if water > infiltration else 0.0
            water -= surface
            generated = water * (soil / capacity) ** shape
            soil += water - generated
            if soil > capacity:
                generated += soil - capacity
                soil = capacity
            fast += surface + to_fast * generated
            slow += to_slow * generated
        evaporation = demand if soil >= et_limit else demand * soil / et_limit
        soil = soil - evaporation if soil > evaporation else 0.0
        outflow.append(fast_rate * fast + slow_rate * slow)
        fast *= fast_keep
        slow *= slow_keep
    return np.array(outflow), (soil, fast, slow)


def _route(runoff: np.ndarray, base_days: float) -> np.ndarray:
    """Delay runoff through a triangular unit hydrograph of ``base_days`` (HBV's MAXBAS).

    The record is padded with its first value, as if flow had been steady before it began.
    """
    edges = np.arange(math.ceil(base_days) + 1, dtype=float)
    half = base_days / 2
    cumulative = np.where(
        edges <= half,
        2 * (edges / base_days) ** 2,
        1 - 2 * (np.clip(base_days - edges, 0, None) / base_days) ** 2,
    )
    weights = np.diff(cumulative)
    padded = np.concatenate([np.full(len(weights), runoff[0]), runoff])
    return np.convolve(padded, weights)[len(weights) : len(weights) + len(runoff)]


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
