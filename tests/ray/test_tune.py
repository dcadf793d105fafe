"""Sweeps on a real local Ray with a real sqlite MLflow store."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from regional_lstm.artifacts import load_model
from regional_lstm.errors import ConfigError
from regional_lstm.evaluation.predict import predict_frame
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.tracking.models import using_store
from regional_lstm.tracking.store import client_for
from regional_lstm.workflows.tune import check_sweep, tune
from tests.conftest import model_input, tiny_config

pytestmark = pytest.mark.ray


def child_runs(outcome):
    client = outcome.parent.client
    experiment = client.get_run(outcome.parent.run_id).info.experiment_id
    return client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{outcome.parent.run_id}'"
    )


@pytest.fixture(scope="module")
def grid(ray_cluster, tiny_store, tmp_path_factory):
    config = tiny_config(
        tiny_store,
        tmp_path_factory.mktemp("grid"),
        LSTM_HIDDEN_SIZE=[8, 16],
        LSTM_LEARNING_RATE=[0.01],  # a grid of 2 x 1: one round of trials on 2 cores
        LSTM_EPOCHS=1,
        OPTIMIZATION_ALGORITHM="GridSearch",
        OPTIMIZATION_METRIC="KGE",
        LSTM_SAVE_MODEL=True,
    )
    return config, tune(config)


def test_grid_search_runs_every_point_as_a_child_run_with_kge(grid):
    _, outcome = grid
    children = child_runs(outcome)
    assert len(children) == 2
    assert {r.info.status for r in children} == {"FINISHED"}
    points = {
        (r.data.params["LSTM_HIDDEN_SIZE"], r.data.params["LSTM_LEARNING_RATE"]) for r in children
    }
    assert points == {("8", "0.01"), ("16", "0.01")}
    assert all("val_kge" in r.data.metrics for r in children)


def test_parent_records_the_best_trial_and_its_config(grid):
    config, outcome = grid
    parent = outcome.parent.client.get_run(outcome.parent.run_id)
    assert parent.data.tags["regional_lstm.kind"] == "tune"
    assert parent.data.metrics["best_kge"] == pytest.approx(outcome.best_score)
    assert outcome.best_score == pytest.approx(outcome.trials["best_score"].max())
    best = yaml.safe_load(outcome.best_config_path.read_text())
    assert best["LSTM_HIDDEN_SIZE"] == outcome.best_params["LSTM_HIDDEN_SIZE"]
    assert not isinstance(best["LSTM_LEARNING_RATE"], list)
    assert (config.PROJECT_DIR / "tune" / "metric_vs_params.png").is_file()


def test_best_trial_is_evaluated_and_registered(grid):
    _, outcome = grid
    assert outcome.registered_version == "1"
    client = client_for(outcome.parent.uri)
    version = client.get_model_version("tiny-lstm", "1")
    best = next(r for r in child_runs(outcome) if r.info.run_id == version.run_id)
    assert "nse_median" in best.data.metrics
    with using_store(outcome.parent.uri):
        pyfunc = mlflow.pyfunc.load_model("models:/tiny-lstm@latest")
    # The registered model predicts exactly what the best trial's own saved model predicts.
    best_dir = yaml.safe_load(outcome.best_config_path.read_text())["PROJECT_DIR"]
    model, card = load_model(Path(best_dir) / BEST_MODEL)
    frame = model_input(card.config["DATA_STORE"], card, ["syn0003"])
    np.testing.assert_array_equal(
        pyfunc.predict(frame)["streamflow"], predict_frame(model, card, frame)["streamflow"]
    )


def test_random_search_runs_max_iterations_trials(ray_cluster, tiny_store, tmp_path):
    config = tiny_config(
        tiny_store,
        tmp_path,
        LSTM_HIDDEN_SIZE=[8, 16, 24],
        LSTM_DROPOUT=[0.0, 0.1],
        LSTM_EPOCHS=2,
        OPTIMIZATION_MAX_ITERATIONS=2,  # of the 6 points; one round on 2 cores
        OPTIMIZATION_METRIC="NSE",
    )
    outcome = tune(config)
    assert len(child_runs(outcome)) == 2
    assert len(outcome.trials) == 2
    assert len(outcome.trials[["LSTM_HIDDEN_SIZE", "LSTM_DROPOUT"]].drop_duplicates()) == 2


def test_grid_larger_than_the_cap_is_refused(tiny_store, tmp_path):
    config = tiny_config(
        tiny_store,
        tmp_path,
        LSTM_HIDDEN_SIZE=[8, 16, 32],
        LSTM_NUM_LAYERS=[1, 2],
        OPTIMIZATION_ALGORITHM="GridSearch",
        OPTIMIZATION_MAX_ITERATIONS=5,
    )
    with pytest.raises(ConfigError, match="has 6 points, more than OPTIMIZATION_MAX_ITERATIONS 5"):
        check_sweep(config)


def test_config_without_lists_has_nothing_to_tune(tiny_store, tmp_path):
    with pytest.raises(ConfigError, match="nothing to tune"):
        check_sweep(tiny_config(tiny_store, tmp_path))
