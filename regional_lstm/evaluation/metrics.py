"""Streamflow metrics for one basin's daily series, and a summary over a per-basin table.

Every metric takes ``(obs, sim)`` as 1-D arrays of equal length on the same days and returns a
float. Days where ``obs`` or ``sim`` is NaN are dropped first (a NaN simulation is a bug upstream,
but one bad day should not hide the rest); with fewer than two valid days the result is NaN.
A metric whose formula divides by zero on the valid days (constant ``obs``, zero mean flow, ...)
returns NaN rather than raising or returning an infinity, so per-basin tables stay aggregable
with NaN-aware statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

P = ParamSpec("P")
Metric = Callable[[ArrayLike, ArrayLike], float]

FLOW_EPSILON = 1e-6
"""Floor applied to flows before taking logs in ``flv``, in the series' units (mm/day)."""


def _on_valid_days(
    metric: Callable[Concatenate[np.ndarray, np.ndarray, P], float],
) -> Callable[Concatenate[ArrayLike, ArrayLike, P], float]:
    """Run ``metric`` on the days where both series are present; NaN if fewer than two."""

    @functools.wraps(metric)
    def masked(obs: ArrayLike, sim: ArrayLike, *args: P.args, **kwargs: P.kwargs) -> float:
        obs, sim = _as_series(obs, sim)
        valid = _both_present(obs, sim)
        if valid.sum() < 2:
            return np.nan
        return metric(obs[valid], sim[valid], *args, **kwargs)

    return masked


def _as_series(obs: ArrayLike, sim: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    obs = np.asarray(obs, dtype=np.float64)
    sim = np.asarray(sim, dtype=np.float64)
    if obs.ndim != 1 or obs.shape != sim.shape:
        raise ValueError(
            f"obs and sim must be 1-D series of equal length, got shapes {obs.shape} and "
            f"{sim.shape}"
        )
    return obs, sim


def _both_present(obs: np.ndarray, sim: np.ndarray) -> np.ndarray:
    return ~(np.isnan(obs) | np.isnan(sim))


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or NaN where the denominator is zero."""
    return float(numerator / denominator) if denominator != 0 else np.nan


@_on_valid_days
def nse(obs: np.ndarray, sim: np.ndarray) -> float:
    """Nash-Sutcliffe efficiency: ``NSE = 1 - sum((sim-obs)^2) / sum((obs-mean(obs))^2)``.

    NaN when ``obs`` is constant (zero variance): the score is undefined, not minus infinity.
    """
    return 1.0 - _ratio(np.sum((sim - obs) ** 2), np.sum((obs - obs.mean()) ** 2))


@_on_valid_days
def pearson_r(obs: np.ndarray, sim: np.ndarray) -> float:
    """Linear correlation: ``r = sum(dobs*dsim) / sqrt(sum(dobs^2) * sum(dsim^2))``, d = x-mean(x).

    NaN when either series is constant.
    """
    obs_anomaly, sim_anomaly = obs - obs.mean(), sim - sim.mean()
    spread = np.sqrt(np.sum(obs_anomaly**2) * np.sum(sim_anomaly**2))
    return _ratio(np.sum(obs_anomaly * sim_anomaly), spread)


@_on_valid_days
def kge_alpha(obs: np.ndarray, sim: np.ndarray) -> float:
    """KGE variability ratio: ``alpha = std(sim) / std(obs)``; NaN when ``obs`` is constant."""
    return _ratio(sim.std(), obs.std())


@_on_valid_days
def kge_beta(obs: np.ndarray, sim: np.ndarray) -> float:
    """KGE bias ratio: ``beta = mean(sim) / mean(obs)``; NaN when ``mean(obs) == 0``."""
    return _ratio(sim.mean(), obs.mean())


def kge_components(obs: ArrayLike, sim: ArrayLike) -> dict[str, float]:
    """The three KGE terms as ``{"r": pearson_r, "alpha": kge_alpha, "beta": kge_beta}``."""
    return {"r": pearson_r(obs, sim), "alpha": kge_alpha(obs, sim), "beta": kge_beta(obs, sim)}


def kge(obs: ArrayLike, sim: ArrayLike) -> float:
    """Kling-Gupta efficiency: ``KGE = 1 - sqrt((r-1)^2 + (alpha-1)^2 + (beta-1)^2)``.

    Gupta et al. (2009), with r, alpha and beta from ``kge_components``. NaN whenever one of
    them is (constant series, zero mean observed flow).
    """
    terms = kge_components(obs, sim)
    return float(1.0 - np.sqrt(sum((term - 1.0) ** 2 for term in terms.values())))


@_on_valid_days
def rmse(obs: np.ndarray, sim: np.ndarray) -> float:
    """Root mean squared error: ``RMSE = sqrt(mean((sim-obs)^2))``, in the series' units."""
    return float(np.sqrt(np.mean((sim - obs) ** 2)))


@_on_valid_days
def mae(obs: np.ndarray, sim: np.ndarray) -> float:
    """Mean absolute error: ``MAE = mean(|sim-obs|)``, in the series' units."""
    return float(np.mean(np.abs(sim - obs)))


@_on_valid_days
def bias(obs: np.ndarray, sim: np.ndarray) -> float:
    """Mean error: ``Bias = mean(sim-obs)``, in the series' units; positive means overestimation."""
    return float(np.mean(sim - obs))


@_on_valid_days
def pbias(obs: np.ndarray, sim: np.ndarray) -> float:
    """Percent volume bias: ``PBias = 100 * sum(sim-obs) / sum(obs)``; NaN when ``sum(obs) == 0``.

    Positive means the simulation overestimates the total volume.
    """
    return 100.0 * _ratio(np.sum(sim - obs), np.sum(obs))


def _segment_size(fraction: float, n_days: int) -> int:
    """Days in a flow-duration-curve segment: ``fraction * n_days`` rounded half up, at least 1."""
    return max(1, int(np.floor(fraction * n_days + 0.5)))


@_on_valid_days
def fhv(obs: np.ndarray, sim: np.ndarray, fraction: float = 0.02) -> float:
    """High-flow volume bias of the flow duration curve (Yilmaz et al. 2008), in percent.

    ``FHV = 100 * sum(sim_h - obs_h) / sum(obs_h)`` over the H highest flows of each series,
    each sorted on its own (duration curves ignore timing). H is ``fraction`` (2 %) of the valid
    days, rounded half up and at least one day. NaN when the observed high flows sum to zero.
    """
    n_high = _segment_size(fraction, len(obs))
    obs_high = np.sort(obs)[-n_high:]
    sim_high = np.sort(sim)[-n_high:]
    return 100.0 * _ratio(np.sum(sim_high - obs_high), np.sum(obs_high))


@_on_valid_days
def flv(obs: np.ndarray, sim: np.ndarray, fraction: float = 0.3) -> float:
    """Low-flow volume bias of the flow duration curve (Yilmaz et al. 2008), in percent.

    ``FLV = -100 * (S - O) / O`` with ``O = sum(log obs_l - log min(obs_l))`` over the L lowest
    observed flows and S the same for the L lowest simulated flows, each sorted on its own.
    L is ``fraction`` (30 %) of the valid days, rounded half up and at least one day.
    Flows below ``FLOW_EPSILON`` (zero, or a negative simulation) are raised to it before the log.
    NaN when O is zero, i.e. the observed low segment is flat (for example all zero flow):
    we do not pad the denominator with an epsilon, which would turn that into a huge number.
    """
    n_low = _segment_size(fraction, len(obs))
    log_obs_low = np.log(np.maximum(np.sort(obs)[:n_low], FLOW_EPSILON))
    log_sim_low = np.log(np.maximum(np.sort(sim)[:n_low], FLOW_EPSILON))
    obs_volume = np.sum(log_obs_low - log_obs_low.min())
    sim_volume = np.sum(log_sim_low - log_sim_low.min())
    return -100.0 * _ratio(sim_volume - obs_volume, obs_volume)


def peak_timing(
    obs: ArrayLike, sim: ArrayLike, window: int = 3, min_peak_distance: int = 100
) -> float:
    """Mean absolute lag in days between observed peaks and the simulated peak near each.

    ``PeakTiming = mean(|argmax(sim within +-window days of p) - p|)`` over observed peaks p.
    Peaks are found with ``scipy.signal.find_peaks`` on the valid observed days: at least
    ``min_peak_distance`` valid days apart and rising at least one standard deviation of obs
    above their surroundings (prominence), so only distinct flood events count.
    Lags are in real days: the window is measured on the original time axis and only valid days
    inside it are searched, so a simulated value on a day with missing obs is never picked.
    Ties go to the earliest day. NaN when no peak is found.
    """
    obs, sim = _as_series(obs, sim)
    valid_days = np.flatnonzero(_both_present(obs, sim))
    if len(valid_days) < 2:
        return np.nan
    obs_valid = obs[valid_days]
    from scipy.signal import find_peaks  # here: scipy.signal costs every importer ~60 MB

    peaks, _ = find_peaks(obs_valid, distance=min_peak_distance, prominence=obs_valid.std())
    if len(peaks) == 0:
        return np.nan
    lags = []
    for peak_day in valid_days[peaks]:
        nearby = valid_days[np.abs(valid_days - peak_day) <= window]
        sim_peak_day = nearby[np.argmax(sim[nearby])]
        lags.append(abs(sim_peak_day - peak_day))
    return float(np.mean(lags))


ALL_METRICS: dict[str, Metric] = {
    "NSE": nse,
    "KGE": kge,
    "KGE_r": pearson_r,
    "KGE_alpha": kge_alpha,
    "KGE_beta": kge_beta,
    "RMSE": rmse,
    "MAE": mae,
    "Bias": bias,
    "PBias": pbias,
    "FHV": fhv,
    "FLV": flv,
    "PeakTiming": peak_timing,
}


def compute_metrics(obs: ArrayLike, sim: ArrayLike) -> dict[str, float]:
    """Every metric in ``ALL_METRICS`` for one basin, keyed by its output column name."""
    return {name: metric(obs, sim) for name, metric in ALL_METRICS.items()}


def summarize(table: pd.DataFrame) -> dict[str, float | int]:
    """Headline numbers over a per-basin metrics table (rows basins, columns ``ALL_METRICS`` names).

    Medians and means skip basins where the metric is NaN; ``n_basins`` counts every row and
    ``n_nse_negative`` the basins whose NSE is below zero (worse than predicting the mean).
    """
    return {
        "n_basins": len(table),
        "n_nse_negative": int((table["NSE"] < 0).sum()),
        "nse_median": float(table["NSE"].median()),
        "nse_mean": float(table["NSE"].mean()),
        "kge_median": float(table["KGE"].median()),
        "kge_mean": float(table["KGE"].mean()),
    }
