"""Daily weather of one synthetic basin: seasonal cycles by latitude, AR(1) and Markov-chain noise.

Temperature follows a seasonal cycle with AR(1) anomalies, wet days a two-state Markov chain with
gamma-distributed amounts, radiation and day length the FAO-56 astronomy, and PET Hargreaves.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from regional_lstm.data.synth.constants import CONSTANTS


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
