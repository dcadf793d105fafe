"""Metrics against values worked out by hand on tiny series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from regional_lstm.evaluation.metrics import (
    ALL_METRICS,
    FLOW_EPSILON,
    bias,
    compute_metrics,
    fhv,
    flv,
    kge,
    kge_alpha,
    kge_beta,
    kge_components,
    mae,
    nse,
    pbias,
    peak_timing,
    pearson_r,
    rmse,
    summarize,
)

OBS = np.array([1.0, 2.0, 3.0, 4.0])
# errors sim - obs = [1, 0, 0, -3]
SIM = np.array([2.0, 2.0, 3.0, 1.0])


def test_nse_matches_hand_computation() -> None:
    # SSE = 1, mean(obs) = 2.5, SST = 2.25 + 0.25 + 0.25 + 2.25 = 5 -> NSE = 1 - 1/5 = 0.8
    assert nse([1, 2, 3, 4], [1, 2, 3, 5]) == pytest.approx(0.8)


def test_nse_of_mean_prediction_is_zero() -> None:
    assert nse(OBS, np.full(4, OBS.mean())) == pytest.approx(0.0)


def test_rmse_matches_hand_computation() -> None:
    # squared errors [1, 0, 0, 9], mean 10/4 = 2.5 -> RMSE = sqrt(2.5)
    assert rmse(OBS, SIM) == pytest.approx(math.sqrt(2.5))


def test_mae_matches_hand_computation() -> None:
    # |errors| = [1, 0, 0, 3] -> MAE = 4/4 = 1
    assert mae(OBS, SIM) == pytest.approx(1.0)


def test_bias_is_mean_error_in_series_units() -> None:
    # errors sum to 1 - 3 = -2 over 4 days -> Bias = -0.5
    assert bias(OBS, SIM) == pytest.approx(-0.5)


def test_pbias_is_percent_of_observed_volume() -> None:
    # sum(sim - obs) = -2, sum(obs) = 10 -> PBias = 100 * -2/10 = -20
    assert pbias(OBS, SIM) == pytest.approx(-20.0)


def test_pearson_r_matches_hand_computation() -> None:
    # anomalies obs [-1, 0, 1], sim [-1, 1, 0]: sum of products 1, sums of squares 2 and 2
    # -> r = 1 / sqrt(2 * 2) = 0.5
    assert pearson_r([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)


def test_kge_of_reversed_series_is_minus_one() -> None:
    # sim = [3, 2, 1]: r = -1, alpha = 1, beta = 1 -> KGE = 1 - sqrt(4) = -1
    assert kge([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_kge_components_of_doubled_simulation() -> None:
    # sim = 2*obs: r = 1, std doubles -> alpha = 2, mean doubles -> beta = 2
    # -> KGE = 1 - sqrt(0 + 1 + 1) = 1 - sqrt(2)
    components = kge_components(OBS, 2 * OBS)
    assert components == pytest.approx({"r": 1.0, "alpha": 2.0, "beta": 2.0})
    assert kge(OBS, 2 * OBS) == pytest.approx(1 - math.sqrt(2))


def test_perfect_prediction_scores() -> None:
    obs = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    scores = compute_metrics(obs, obs.copy())
    assert scores["NSE"] == pytest.approx(1.0)
    assert scores["KGE"] == pytest.approx(1.0)
    for name in ("RMSE", "MAE", "Bias", "PBias", "FHV", "FLV"):
        assert scores[name] == pytest.approx(0.0), name


def test_missing_observed_days_do_not_change_any_score() -> None:
    rng = np.random.default_rng(0)
    obs = rng.gamma(2.0, 1.5, size=40)
    sim = obs * rng.uniform(0.6, 1.4, size=40)
    gaps = [0, 7, 7, 25, 40]
    obs_with_gaps = np.insert(obs, gaps, np.nan)
    sim_with_gaps = np.insert(sim, gaps, [-50.0, 1e6, 3.0, 0.0, 7.0])
    # PeakTiming counts lags in real days, so inserting days moves peaks; tested on its own below
    pointwise = [name for name in ALL_METRICS if name != "PeakTiming"]
    expected = compute_metrics(obs, sim)
    masked = compute_metrics(obs_with_gaps, sim_with_gaps)
    np.testing.assert_allclose([masked[n] for n in pointwise], [expected[n] for n in pointwise])


def test_missing_simulated_days_are_dropped_like_missing_observations() -> None:
    sim_with_gap = SIM.copy()
    sim_with_gap[1] = np.nan
    assert rmse(OBS, sim_with_gap) == pytest.approx(rmse(OBS[[0, 2, 3]], SIM[[0, 2, 3]]))


def test_fewer_than_two_valid_days_gives_nan_everywhere() -> None:
    scores = compute_metrics([1.0, np.nan, 3.0], [1.0, 2.0, np.nan])
    assert all(math.isnan(value) for value in scores.values())


def test_constant_observations_give_nan_nse_and_kge() -> None:
    obs = [2.0, 2.0, 2.0]
    sim = [1.0, 2.0, 3.0]
    assert math.isnan(nse(obs, sim))
    assert math.isnan(kge_alpha(obs, sim))
    assert math.isnan(kge(obs, sim))


def test_zero_mean_observations_give_nan_beta_and_pbias() -> None:
    assert math.isnan(kge_beta([-1.0, 1.0], [1.0, 2.0]))
    assert math.isnan(pbias([-1.0, 1.0], [1.0, 2.0]))


def test_fhv_uses_top_two_percent_of_sorted_flows() -> None:
    # 100 days -> high segment is the 2 highest flows of each series, sorted on their own.
    # obs top two: 10 + 10 = 20; sim top two: 13 + 12 = 25 (its 5 is third and left out)
    # -> FHV = 100 * (25 - 20) / 20 = 25
    obs = np.array([1.0] * 98 + [10.0, 10.0])
    sim = np.array([13.0] + [1.0] * 96 + [5.0, 12.0, 1.0])
    assert fhv(obs, sim) == pytest.approx(25.0)


def test_fhv_ignores_timing() -> None:
    obs = np.arange(1.0, 101.0)
    assert fhv(obs, obs[::-1]) == pytest.approx(0.0)


def test_flv_matches_hand_computation_in_log_space() -> None:
    # 10 days -> low segment is the 3 lowest flows.
    # log obs low = [0, 1, 2] -> O = (0-0) + (1-0) + (2-0) = 3
    # log sim low = [0, 2, 4] -> S = 6 -> FLV = -100 * (6 - 3) / 3 = -100
    obs = np.exp([2.0, 0.0, 1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    sim = np.exp([0.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    assert flv(obs, sim) == pytest.approx(-100.0)


def test_flv_raises_zero_and_negative_flows_to_epsilon() -> None:
    # 0 and -1 both become FLOW_EPSILON, so relative to log(eps):
    # obs low logs [0, 1, 2] -> O = 3; sim low logs [0, 2, 4] -> S = 6 -> FLV = -100
    eps = FLOW_EPSILON
    high = [1.0] * 7
    obs = np.array([0.0, eps * math.e, eps * math.e**2, *high])
    sim = np.array([-1.0, eps * math.e**2, eps * math.e**4, *high])
    assert flv(obs, sim) == pytest.approx(-100.0)


def test_flv_is_nan_when_observed_low_flows_are_flat() -> None:
    obs = np.array([0.0] * 5 + [1.0, 2.0, 3.0, 4.0, 5.0])
    assert math.isnan(flv(obs, obs + 0.5))


def _flood(n_days: int, peak_days: list[int]) -> np.ndarray:
    """Baseflow of 1 with a single-day flood of 10 on each of ``peak_days``."""
    flow = np.ones(n_days)
    flow[peak_days] = 10.0
    return flow


def test_peak_timing_of_peak_two_days_late() -> None:
    assert peak_timing(_flood(60, [30]), _flood(60, [32])) == pytest.approx(2.0)


def test_peak_timing_averages_absolute_lags() -> None:
    # one simulated peak 2 days late, the other 1 day early -> (2 + 1) / 2 = 1.5
    assert peak_timing(_flood(300, [30, 200]), _flood(300, [32, 199])) == pytest.approx(1.5)


def test_peak_timing_ignores_simulation_on_days_without_observations() -> None:
    obs = _flood(60, [30])
    obs[31] = np.nan
    sim = _flood(60, [31])
    sim[32] = 5.0
    # day 31 is masked, so the simulated peak is day 32 at 5 -> lag 2
    assert peak_timing(obs, sim) == pytest.approx(2.0)


def test_peak_timing_without_observed_peaks_is_nan() -> None:
    rising = np.arange(1.0, 30.0)
    assert math.isnan(peak_timing(rising, rising))


def test_compute_metrics_returns_every_named_metric() -> None:
    assert list(compute_metrics(OBS, SIM)) == [
        "NSE",
        "KGE",
        "KGE_r",
        "KGE_alpha",
        "KGE_beta",
        "RMSE",
        "MAE",
        "Bias",
        "PBias",
        "FHV",
        "FLV",
        "PeakTiming",
    ]


def test_mismatched_series_lengths_raise() -> None:
    with pytest.raises(ValueError, match="equal length"):
        nse([1.0, 2.0, 3.0], [1.0, 2.0])


def test_summarize_skips_nan_basins_in_statistics_but_counts_them() -> None:
    table = pd.DataFrame(
        {"NSE": [0.8, -0.2, 0.5, np.nan], "KGE": [0.7, 0.1, 0.4, np.nan]},
        index=["b1", "b2", "b3", "b4"],
    )
    # NSE valid [0.8, -0.2, 0.5]: median 0.5, mean 1.1/3; KGE [0.7, 0.1, 0.4]: median 0.4, mean 0.4
    assert summarize(table) == pytest.approx(
        {
            "n_basins": 4,
            "n_nse_negative": 1,
            "nse_median": 0.5,
            "nse_mean": 1.1 / 3,
            "kge_median": 0.4,
            "kge_mean": 0.4,
        }
    )
