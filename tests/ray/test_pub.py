"""Prediction in ungauged basins: fold assignment, and the K-fold experiment on a real local Ray."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from regional_lstm.artifacts import load_model
from regional_lstm.errors import ConfigError
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.pipeline.members import train_all
from regional_lstm.workflows.pub import assign_folds, fold_configs, pub
from tests.conftest import log_lines, tiny_config

BASINS = [f"b{i:02d}" for i in range(12)]
TINY_BASINS = [f"syn{i:04d}" for i in range(1, 7)]


@pytest.mark.parametrize("k", [2, 3, 5, 12])
@pytest.mark.parametrize("stratified", [False, True])
def test_every_basin_is_in_exactly_one_fold(k, stratified):
    strata = np.arange(len(BASINS), dtype=float) if stratified else None
    folds = assign_folds(BASINS, k, seed=0, strata=strata)
    assert sorted(folds) == BASINS
    assert set(folds.values()) == set(range(k))


@pytest.mark.parametrize("n_basins", [6, 7, 11, 12])
@pytest.mark.parametrize("stratified", [False, True])
def test_fold_sizes_differ_by_at_most_one(n_basins, stratified):
    strata = np.random.default_rng(1).normal(size=n_basins) if stratified else None
    folds = assign_folds(BASINS[:n_basins], 4, seed=2, strata=strata)
    sizes = Counter(folds.values()).values()
    assert max(sizes) - min(sizes) <= 1


def test_same_seed_gives_the_same_folds_and_another_seed_others():
    assert assign_folds(BASINS, 3, seed=7) == assign_folds(BASINS, 3, seed=7)
    assert assign_folds(BASINS, 3, seed=7) != assign_folds(BASINS, 3, seed=8)


def test_stratified_folds_each_take_one_basin_of_every_run_of_k_neighbours():
    values = np.arange(12, dtype=float)
    shuffled = np.random.default_rng(3).permutation(12)  # strata need not come sorted
    folds = assign_folds([BASINS[i] for i in shuffled], 3, seed=4, strata=values[shuffled])
    for first in range(0, 12, 3):
        neighbours = BASINS[first : first + 3]
        assert sorted(folds[basin] for basin in neighbours) == [0, 1, 2]


@pytest.mark.parametrize("k", [1, 13])
def test_fold_count_outside_two_to_the_number_of_basins_is_a_config_error(k):
    with pytest.raises(ConfigError, match=rf"2 <= folds <= the number of basins \(12\), got {k}"):
        assign_folds(BASINS, k, seed=0)


@pytest.fixture(scope="module")
def experiment(ray_cluster, tiny_store, tmp_path_factory):
    """One 2-fold PUB run over the 6 tiny basins: 2 fold models and the gauged one."""
    config = tiny_config(tiny_store, tmp_path_factory.mktemp("pub"), LSTM_EPOCHS=1)
    with log_lines() as lines:
        return config, pub(config, folds=2), lines


@pytest.mark.ray
def test_every_basin_is_predicted_out_of_fold_exactly_once(experiment):
    config, outcome, _ = experiment
    assert sorted(outcome.comparison.index) == TINY_BASINS
    assert outcome.comparison.index.is_unique
    ungauged = config.PROJECT_DIR / "pub" / "results" / "ungauged"
    csvs = sorted(p.name for p in ungauged.glob("*_LSTM_predictions.csv"))
    assert csvs == [f"{basin}_LSTM_predictions.csv" for basin in TINY_BASINS]


@pytest.mark.ray
def test_each_fold_model_trained_on_all_but_its_held_out_basins(experiment):
    config, outcome, _ = experiment
    assert sorted(set(outcome.folds.values())) == [0, 1]
    for fold in range(2):
        _, card = load_model(config.PROJECT_DIR / "pub" / f"fold_{fold}" / BEST_MODEL)
        held_out = {basin for basin, f in outcome.folds.items() if f == fold}
        assert held_out
        assert set(card.trained_basins) == set(TINY_BASINS) - held_out


@pytest.mark.ray
def test_gauged_model_trained_on_every_basin(experiment):
    config, _, _ = experiment
    _, card = load_model(config.PROJECT_DIR / "pub" / "gauged" / BEST_MODEL)
    assert sorted(card.trained_basins) == TINY_BASINS


@pytest.mark.ray
def test_parent_run_has_a_finished_child_run_per_model(experiment):
    _, outcome, _ = experiment
    client = outcome.run.client
    parent = client.get_run(outcome.run.run_id)
    assert parent.data.tags["regional_lstm.kind"] == "pub"
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{outcome.run.run_id}'",
    )
    assert len(children) == 3
    assert {run.info.status for run in children} == {"FINISHED"}
    labels = {run.data.tags["regional_lstm.member"] for run in children}
    assert labels == {"fold_0", "fold_1", "gauged"}


@pytest.mark.ray
def test_parent_run_logs_pub_and_gauged_medians(experiment):
    _, outcome, _ = experiment
    metrics = outcome.run.client.get_run(outcome.run.run_id).data.metrics
    assert metrics["pub_nse_median"] == pytest.approx(outcome.comparison["NSE_pub"].median())
    assert metrics["gauged_nse_median"] == pytest.approx(outcome.comparison["NSE_gauged"].median())


@pytest.mark.ray
def test_comparison_table_is_written_with_each_basins_fold(experiment):
    config, outcome, _ = experiment
    table = pd.read_csv(config.PROJECT_DIR / "pub" / "results" / "pub_vs_gauged.csv")
    assert list(table.columns) == [
        "basin",
        "fold",
        "NSE_pub",
        "NSE_gauged",
        "KGE_pub",
        "KGE_gauged",
    ]
    assert dict(zip(table["basin"], table["fold"], strict=True)) == outcome.folds


@pytest.mark.ray
def test_log_reports_the_folds_and_ends_with_both_median_nses(experiment):
    _, outcome, lines = experiment
    assert "PUB: 6 basins in 2 folds, plus a gauged model on all of them" in lines
    assert lines[-1].startswith("Median NSE: PUB ")
    assert outcome.run.run_id in lines[-1]


@pytest.mark.ray
def test_relaunch_reuses_the_fold_models_and_the_gauged_one(experiment):
    config, outcome, _ = experiment
    configs = fold_configs(config, outcome.folds, 2)
    with log_lines() as lines:
        models = train_all(configs, outcome.run, storage=config.PROJECT_DIR / "pub" / "ray")
    assert len(models) == 3
    assert sum("trained already" in line for line in lines) == 3
