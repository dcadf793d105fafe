"""Ensembles: combining members, CRPS and band coverage against hand and brute-force values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.metrics import mae
from regional_lstm.evaluation.outputs import mm_per_day_to_m3s
from regional_lstm.evaluation.plots import plot_hydrograph_band
from regional_lstm.evaluation.uncertainty import (
    combine_members,
    crps_ensemble,
    ensemble_metrics,
    ensemble_prediction_table,
    interval_coverage,
    member_array,
)

DATES = pd.date_range("2000-01-01", periods=4, freq="D", name="Date")
OBS = np.array([1.0, 2.0, 3.0, 4.0])


def _members(simulations: list[np.ndarray], obs: np.ndarray = OBS, basin: str = "b1") -> list:
    """One single-basin prediction dict per member, as ``predict_period`` returns them."""
    dates = pd.date_range("2000-01-01", periods=len(obs), freq="D", name="Date")
    return [
        {basin: pd.DataFrame({"streamflow_obs": obs, "streamflow_sim": sim}, index=dates)}
        for sim in simulations
    ]


def _noisy_members(n_members: int, n_days: int, seed: int) -> tuple[np.ndarray, list]:
    """Members that are a seasonal truth plus independent noise, for two basins."""
    rng = np.random.default_rng(seed)
    truth = 2.0 + np.sin(np.linspace(0, 6 * np.pi, n_days)) + rng.gamma(1.0, 0.5, n_days)
    dates = pd.date_range("2000-01-01", periods=n_days, freq="D", name="Date")
    members = []
    for _ in range(n_members):
        members.append(
            {
                basin: pd.DataFrame(
                    {"streamflow_obs": truth, "streamflow_sim": truth + rng.normal(0, 0.6, n_days)},
                    index=dates,
                )
                for basin in ("b1", "b2")
            }
        )
    return truth, members


def _brute_force_crps(obs: np.ndarray, ensemble: np.ndarray) -> float:
    m = ensemble.shape[0]
    scores = [
        np.mean(np.abs(x - y)) - np.abs(x[:, None] - x[None, :]).sum() / (2 * m**2)
        for x, y in zip(ensemble.T, obs, strict=True)
    ]
    return float(np.mean(scores))


def test_crps_equals_brute_force_pairwise_formula() -> None:
    rng = np.random.default_rng(0)
    obs = rng.gamma(2.0, 1.0, 50)
    ensemble = obs + rng.normal(0.0, 1.0, (7, 50))
    assert crps_ensemble(obs, ensemble) == pytest.approx(_brute_force_crps(obs, ensemble))


def test_crps_of_single_member_is_mean_absolute_error() -> None:
    sim = np.array([2.0, 2.0, 3.0, 1.0])
    # |errors| = [1, 0, 0, 3] -> 1
    assert crps_ensemble(OBS, sim[None, :]) == pytest.approx(mae(OBS, sim)) == pytest.approx(1.0)


def test_crps_of_ensemble_equal_to_observations_is_zero() -> None:
    assert crps_ensemble(OBS, np.tile(OBS, (5, 1))) == pytest.approx(0.0)


def test_crps_skips_days_without_observation_or_with_a_missing_member() -> None:
    obs = np.array([1.0, np.nan, 3.0, 4.0])
    ensemble = np.array([[1.0, 9.0, 3.0, np.nan], [3.0, 9.0, 3.0, 4.0]])
    # only days 0 and 2 count: day 0 = mean(|0|, |2|) - (2 * 2) / (2 * 4) = 0.5, day 2 = 0
    assert crps_ensemble(obs, ensemble) == pytest.approx(0.25)


def test_crps_is_nan_when_no_day_can_be_scored() -> None:
    assert np.isnan(crps_ensemble(np.full(3, np.nan), np.ones((2, 3))))


def test_coverage_counts_observed_days_inside_the_band_edges_included() -> None:
    obs = np.array([1.0, 2.0, 5.0, np.nan, 3.0])
    lower = np.array([1.0, 0.0, 0.0, 0.0, np.nan])
    upper = np.array([2.0, 1.0, 5.0, 9.0, 9.0])
    # scored days 0, 1, 2: inside on the lower edge, above, on the upper edge
    assert interval_coverage(obs, lower, upper) == pytest.approx(2 / 3)


def test_combined_centre_is_member_mean_by_default() -> None:
    combined = combine_members(_members([OBS + 1, OBS - 1, OBS + 3]))
    np.testing.assert_allclose(combined["b1"]["streamflow_sim"], OBS + 1)
    np.testing.assert_allclose(combined["b1"]["streamflow_obs"], OBS)
    assert combined["b1"].index.equals(DATES)


def test_combined_centre_can_be_member_median() -> None:
    combined = combine_members(_members([OBS + 1, OBS - 1, OBS + 3]), centre="median")
    np.testing.assert_allclose(combined["b1"]["streamflow_sim"], OBS + 1)


def test_quantile_band_brackets_the_ensemble_mean() -> None:
    _, members = _noisy_members(n_members=8, n_days=60, seed=1)
    frame = combine_members(members)["b2"]
    assert list(frame.columns) == [
        "streamflow_obs",
        "streamflow_sim",
        "streamflow_p05",
        "streamflow_p95",
    ]
    assert (frame["streamflow_p05"] <= frame["streamflow_sim"]).all()
    assert (frame["streamflow_sim"] <= frame["streamflow_p95"]).all()


def test_quantile_columns_are_named_after_the_quantiles() -> None:
    frame = combine_members(_members([OBS, OBS + 1]), quantiles=(0.1, 0.9))["b1"]
    assert {"streamflow_p10", "streamflow_p90"} <= set(frame.columns)


def test_day_missing_in_any_member_is_missing_in_the_ensemble() -> None:
    gappy = OBS.copy()
    gappy[2] = np.nan
    frame = combine_members(_members([OBS, gappy]), centre="median")["b1"]
    for column in ("streamflow_sim", "streamflow_p05", "streamflow_p95"):
        assert frame[column].isna().tolist() == [False, False, True, False]


def test_members_with_different_dates_are_refused() -> None:
    shifted = _members([OBS])[0]
    shifted["b1"].index = DATES + pd.Timedelta(days=1)
    with pytest.raises(RegionalLSTMError, match="other dates"):
        combine_members([*_members([OBS]), shifted])


def test_members_with_different_basins_are_refused() -> None:
    with pytest.raises(RegionalLSTMError, match="same basins"):
        combine_members([*_members([OBS]), *_members([OBS], basin="b2")])


def test_an_ensemble_without_members_is_refused() -> None:
    with pytest.raises(RegionalLSTMError, match="at least one member"):
        combine_members([])


def test_member_array_stacks_members_as_rows() -> None:
    ensemble = member_array(_members([OBS, OBS + 1, OBS + 2]), "b1")
    assert ensemble.shape == (3, 4)
    np.testing.assert_allclose(ensemble[2], OBS + 2)


def test_ensemble_metrics_has_one_row_per_basin_with_member_scores() -> None:
    _, members = _noisy_members(n_members=4, n_days=120, seed=2)
    table = ensemble_metrics(members, combine_members(members))
    assert list(table.index) == ["b1", "b2"]
    assert table.index.name == "basin"
    expected = {"NSE", "KGE", "coverage_90", "CRPS", "band_width_mean", "spread_mean"}
    assert expected <= set(table.columns)
    assert {f"NSE_member_{i}" for i in range(4)} | {"NSE_member_median"} <= set(table.columns)
    assert table["coverage_90"].between(0, 1).all()
    assert (table["CRPS"] > 0).all()


def test_mean_of_independently_noisy_members_beats_the_median_member() -> None:
    _, members = _noisy_members(n_members=6, n_days=365, seed=3)
    table = ensemble_metrics(members, combine_members(members))
    assert (table["NSE"] >= table["NSE_member_median"]).all()


def test_ensemble_prediction_table_has_band_columns_in_m3s() -> None:
    frame = combine_members(_members([OBS + 1, OBS - 1, OBS + 3]))["b1"]
    table = ensemble_prediction_table(frame, area_km2=86.4)
    assert list(table.columns) == [
        "Observed_m3s",
        "Predicted_m3s",
        "Predicted_p05_m3s",
        "Predicted_p95_m3s",
        "Residual",
    ]
    assert table.index.equals(DATES)
    np.testing.assert_allclose(table["Predicted_m3s"], mm_per_day_to_m3s(OBS + 1, 86.4))
    np.testing.assert_allclose(table["Residual"], -np.ones(4))


def test_plot_hydrograph_band_writes_a_png(tmp_path) -> None:
    _, members = _noisy_members(n_members=3, n_days=90, seed=4)
    table = ensemble_prediction_table(combine_members(members)["b1"], area_km2=100.0)
    path = plot_hydrograph_band(tmp_path / "b1_band.png", "b1", table, nse=0.8)
    assert path.read_bytes().startswith(b"\x89PNG")
