"""Ensembles of predictions: combine members into a centre and a band, and score the spread.

Members are ``predict_period`` results of models that differ only by seed (or dropout pass):
per basin a frame indexed by date with ``<target>_obs`` and ``<target>_sim`` columns, in store
units (streamflow mm/day). As in ``metrics``, days without an observation are dropped before
scoring, and a day where any member is missing is missing for the whole ensemble: a band drawn
from fewer members would look narrower than it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.metrics import compute_metrics, nse
from regional_lstm.evaluation.outputs import mm_per_day_to_m3s

Predictions = dict[str, pd.DataFrame]
BAND = (0.05, 0.95)


def quantile_name(quantile: float) -> str:
    """Column suffix of a quantile in percent: ``p05`` for 0.05, ``p95`` for 0.95."""
    return f"p{round(quantile * 100):02d}"


def combine_members(
    members: Sequence[Predictions],
    *,
    centre: Literal["mean", "median"] = "mean",
    quantiles: tuple[float, float] = BAND,
) -> Predictions:
    """Per basin ``<t>_obs``, ``<t>_sim`` (ensemble centre) and ``<t>_p05`` / ``<t>_p95`` columns.

    Observations are the first member's (all members read the same store). The quantile
    columns are named by ``quantile_name`` and use numpy's default (linear) interpolation.
    """
    _check_quantiles(quantiles)
    if centre not in ("mean", "median"):
        raise RegionalLSTMError(f"ensemble centre must be 'mean' or 'median', got {centre!r}")
    _check_members_agree(members)
    combined: Predictions = {}
    for basin, first in members[0].items():
        columns: dict[str, np.ndarray] = {}
        for target in _targets(first):
            ensemble = member_array(members, basin, target)
            columns[f"{target}_obs"] = first[f"{target}_obs"].to_numpy(np.float64)
            columns |= ensemble_columns(target, ensemble, centre, quantiles)
        combined[basin] = pd.DataFrame(columns, index=first.index)
    return combined


def member_array(
    members: Sequence[Predictions], basin: str, target: str = "streamflow"
) -> np.ndarray:
    """The members' ``<target>_sim`` series of one basin, shape (n_members, n_days)."""
    if any(basin not in member for member in members):
        raise RegionalLSTMError(f"basin {basin!r} is missing from some ensemble members")
    return np.stack([member[basin][f"{target}_sim"].to_numpy(np.float64) for member in members])


def crps_ensemble(obs: ArrayLike, ensemble: ArrayLike) -> float:
    """Mean continuous ranked probability score of an ensemble, in the series' units.

    ``CRPS_t = mean_i |x_i - y| - 1/(2 m^2) * sum_i sum_j |x_i - x_j|`` for the m members x of
    day t and observation y: the CRPS of the members' empirical distribution (Gneiting & Raftery
    2007, eq. 21). The pairwise sum is ``2 * sum_k (2k - m - 1) x_(k)`` over the members sorted
    ascending (k from 1), O(m log m) per day. Days where ``obs`` or any member is NaN are
    skipped; NaN when no day is left. One member gives the mean absolute error.
    """
    obs = np.asarray(obs, dtype=np.float64)
    ensemble = np.asarray(ensemble, dtype=np.float64)
    if obs.ndim != 1 or ensemble.ndim != 2 or ensemble.shape[1] != obs.shape[0]:
        raise ValueError(
            f"need obs of shape (n_days,) and ensemble of shape (n_members, n_days), got "
            f"{obs.shape} and {ensemble.shape}"
        )
    valid = ~(np.isnan(obs) | np.isnan(ensemble).any(axis=0))
    if not valid.any():
        return np.nan
    members, observed = ensemble[:, valid], obs[valid]
    n_members = members.shape[0]
    absolute_error = np.abs(members - observed).mean(axis=0)
    rank_weights = 2 * np.arange(1, n_members + 1) - n_members - 1
    ordered_pair_sum = rank_weights @ np.sort(members, axis=0)
    return float(np.mean(absolute_error - ordered_pair_sum / n_members**2))


def interval_coverage(obs: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of days with all three values present where ``lower <= obs <= upper``; NaN if none."""
    obs, lower, upper = (np.asarray(a, dtype=np.float64) for a in (obs, lower, upper))
    valid = ~(np.isnan(obs) | np.isnan(lower) | np.isnan(upper))
    if not valid.any():
        return np.nan
    inside = (lower[valid] <= obs[valid]) & (obs[valid] <= upper[valid])
    return float(inside.mean())


def ensemble_metrics(
    members: Sequence[Predictions], combined: Predictions, *, quantiles: tuple[float, float] = BAND
) -> pd.DataFrame:
    """One row per basin: streamflow metrics of the ensemble centre, band and member scores.

    Columns: every ``compute_metrics`` column for ``streamflow_sim`` of ``combined``, then
    ``coverage_90`` (share of observed days inside the band; the number is the band's width in
    percent), ``CRPS`` (mm/day), ``band_width_mean`` (mean upper minus lower quantile, mm/day),
    ``spread_mean`` (mean standard deviation over members, ddof 0, mm/day), ``NSE_member_median``
    and ``NSE_member_<i>`` for each member in order from 0. Band and spread are averaged over
    the days with an observation and every member present, the days CRPS scores.
    """
    lower, upper = quantiles
    coverage_name = f"coverage_{round((upper - lower) * 100)}"
    rows = {}
    for basin, frame in combined.items():
        obs = frame["streamflow_obs"].to_numpy(np.float64)
        band_lower, band_upper = (
            frame[f"streamflow_{quantile_name(q)}"].to_numpy(np.float64) for q in quantiles
        )
        ensemble = member_array(members, basin)
        scored = ~(np.isnan(obs) | np.isnan(ensemble).any(axis=0))
        member_nse = [nse(obs, sim) for sim in ensemble]
        rows[basin] = compute_metrics(obs, frame["streamflow_sim"].to_numpy(np.float64)) | {
            coverage_name: interval_coverage(obs, band_lower, band_upper),
            "CRPS": crps_ensemble(obs, ensemble),
            "band_width_mean": _mean((band_upper - band_lower)[scored]),
            "spread_mean": _mean(ensemble[:, scored].std(axis=0)),
            "NSE_member_median": float(pd.Series(member_nse, dtype=np.float64).median()),
        }
        rows[basin] |= {f"NSE_member_{i}": score for i, score in enumerate(member_nse)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "basin"
    return table


def ensemble_prediction_table(
    frame: pd.DataFrame, area_km2: float, *, quantiles: tuple[float, float] = BAND
) -> pd.DataFrame:
    """Like ``prediction_table`` for a combined frame, with the band: m3/s, indexed by date.

    Columns Observed_m3s, Predicted_m3s (ensemble centre), Predicted_p05_m3s,
    Predicted_p95_m3s (named after ``quantiles``) and Residual (observed minus centre).
    """
    q_obs = mm_per_day_to_m3s(frame["streamflow_obs"].astype(np.float64), area_km2)
    q_sim = mm_per_day_to_m3s(frame["streamflow_sim"].astype(np.float64), area_km2)
    table = {"Observed_m3s": q_obs, "Predicted_m3s": q_sim}
    for quantile in quantiles:
        name = quantile_name(quantile)
        table[f"Predicted_{name}_m3s"] = mm_per_day_to_m3s(
            frame[f"streamflow_{name}"].astype(np.float64), area_km2
        )
    table["Residual"] = q_obs - q_sim
    return pd.DataFrame(table, index=frame.index)


def ensemble_columns(
    target: str, ensemble: np.ndarray, centre: str, quantiles: tuple[float, float]
) -> dict[str, np.ndarray]:
    """``<target>_sim`` (the centre) and one column per quantile of (members, days) values, on
    the days every member predicts (NaN on the others)."""
    complete = ~np.isnan(ensemble).any(axis=0)
    columns = {f"{target}_sim": np.full(ensemble.shape[1], np.nan)}
    columns |= {
        f"{target}_{quantile_name(q)}": np.full(ensemble.shape[1], np.nan) for q in quantiles
    }
    if complete.any():
        members = ensemble[:, complete]
        reduce = np.mean if centre == "mean" else np.median
        columns[f"{target}_sim"][complete] = reduce(members, axis=0)
        for quantile in quantiles:
            columns[f"{target}_{quantile_name(quantile)}"][complete] = np.quantile(
                members, quantile, axis=0
            )
    return columns


def _targets(frame: pd.DataFrame) -> list[str]:
    return [column.removesuffix("_sim") for column in frame.columns if column.endswith("_sim")]


def _check_quantiles(quantiles: tuple[float, float]) -> None:
    lower, upper = quantiles
    if not 0.0 <= lower < upper <= 1.0 or quantile_name(lower) == quantile_name(upper):
        raise RegionalLSTMError(
            f"ensemble band needs quantiles 0 <= lower < upper <= 1 at least 1 % apart, got "
            f"{quantiles}"
        )


def _check_members_agree(members: Sequence[Predictions]) -> None:
    """Raise unless there is a member and all have the same basins, dates and columns."""
    if len(members) < 1:
        raise RegionalLSTMError("an ensemble needs at least one member, got none")
    first = members[0]
    for i, member in enumerate(members[1:], start=1):
        if set(member) != set(first):
            raise RegionalLSTMError(
                f"ensemble member {i} has basins {sorted(set(member) ^ set(first))} that member "
                "0 has not (or the reverse): members must predict the same basins"
            )
        for basin, frame in member.items():
            if not frame.index.equals(first[basin].index):
                raise RegionalLSTMError(
                    f"ensemble member {i} predicts other dates than member 0 for basin {basin!r}"
                )
            if list(frame.columns) != list(first[basin].columns):
                raise RegionalLSTMError(
                    f"ensemble member {i} has columns {list(frame.columns)} for basin {basin!r}, "
                    f"member 0 has {list(first[basin].columns)}"
                )


def _mean(values: np.ndarray) -> float:
    """Mean of a possibly empty array: NaN, without numpy's warning, when empty."""
    return float(values.mean()) if values.size else np.nan
