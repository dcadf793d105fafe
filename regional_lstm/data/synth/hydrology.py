"""A synthetic basin's conceptual model: degree-day snow, HBV-like soil, two reservoirs, routing.

The model parameters are functions of the basin's attributes (with small noise), which is the
mapping a regional model has to learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from regional_lstm.data.synth.constants import CONSTANTS


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
