"""Seed ensembles on a real local Ray: members, spread, band, registry, use as a donor."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from regional_lstm.artifacts import load_members
from regional_lstm.errors import ConfigError
from regional_lstm.evaluation.predict import predict_frame
from regional_lstm.pipeline.members import train_all
from regional_lstm.tracking.store import using_store
from regional_lstm.workflows.ensemble import ensemble, member_configs
from regional_lstm.workflows.transfer import transfer
from tests.conftest import log_lines, model_input, tiny_config

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def trained(ray_cluster, tiny_store, tmp_path_factory):
    config = tiny_config(
        tiny_store,
        tmp_path_factory.mktemp("ensemble"),
        LSTM_ENSEMBLE_SIZE=2,  # trained side by side on the 2 cores: one round
        LSTM_EPOCHS=2,
        LSTM_SAVE_MODEL=True,
    )
    return config, ensemble(config)


def test_members_differ_so_the_ensemble_has_spread(trained):
    _, outcome = trained
    table = outcome.evaluation.metrics
    assert (table["spread_mean"] > 0).all()
    assert (table["band_width_mean"] > 0).all()
    assert table["coverage_90"].between(0, 1).all()
    assert table["CRPS"].notna().all()


def test_ensemble_mean_scores_at_least_the_members_mean_nse_in_every_basin(trained):
    # The mean prediction's squared error is at most the members' mean squared error on every
    # day (convexity), so each basin's ensemble NSE is at least its members' mean NSE.
    _, outcome = trained
    members = [evaluation.metrics["NSE"] for evaluation in outcome.members.values()]
    assert len(members) == 2
    ensemble = outcome.evaluation.metrics["NSE"]
    assert (ensemble >= sum(members) / len(members) - 1e-9).all()


def test_prediction_csvs_carry_the_ensemble_mean_and_its_band(trained):
    config, outcome = trained
    csv = pd.read_csv(outcome.evaluation.results_dir / "syn0001_LSTM_predictions.csv")
    assert list(csv.columns) == [
        "Date",
        "Observed_m3s",
        "Predicted_m3s",
        "Predicted_p05_m3s",
        "Predicted_p95_m3s",
        "Residual",
    ]
    rows = csv.dropna(subset=["Predicted_m3s"])
    assert (rows["Predicted_p05_m3s"] <= rows["Predicted_m3s"] + 1e-9).all()
    assert (rows["Predicted_m3s"] <= rows["Predicted_p95_m3s"] + 1e-9).all()
    assert (config.PROJECT_DIR / "results" / "syn0001_LSTM_hydrograph.png").is_file()


def test_each_member_is_a_finished_child_run_recorded_in_the_manifest(trained):
    _, outcome = trained
    client = outcome.run.client
    experiment = client.get_run(outcome.run.run_id).info.experiment_id
    children = client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{outcome.run.run_id}'"
    )
    assert len(children) == 2
    assert {run.info.status for run in children} == {"FINISHED"}
    assert {run.data.params["SEED"] for run in children} == {"3", "4"}
    assert all("nse_median" in run.data.metrics for run in children)
    manifest = json.loads(outcome.manifest.read_text())
    assert sorted(manifest["member_runs"]) == sorted(run.info.run_id for run in children)
    assert manifest["seeds"] == [3, 4]
    tags = client.get_run(outcome.run.run_id).data.tags
    assert tags["regional_lstm.member_runs"] == ",".join(manifest["member_runs"])


def test_registered_ensemble_loads_and_predicts_its_members_mean(trained, tiny_store):
    _, outcome = trained
    assert outcome.registered_version == "1"
    members, _ = load_members(outcome.manifest)
    frame = model_input(tiny_store, members[0][1], ["syn0002"])
    with using_store(outcome.run.uri):
        predicted = mlflow.pyfunc.load_model("models:/tiny-lstm@latest").predict(frame)
    each = np.stack([predict_frame(m, c, frame)["streamflow"].to_numpy() for m, c in members])
    np.testing.assert_allclose(predicted["streamflow"], each.mean(axis=0), rtol=1e-6)
    band = predicted.dropna()
    assert len(band) > 0
    assert (band["streamflow_p05"] <= band["streamflow_p95"]).all()


def test_ensemble_serves_as_a_donor_for_transfer(trained, tiny_store, tmp_path):
    _, outcome = trained
    target = tiny_config(
        tiny_store,
        tmp_path,
        BASINS=["syn0005", "syn0006"],
        LSTM_PRETRAINED_MODEL=str(outcome.manifest.parent),
    )
    result = transfer(target)
    assert sorted(result.zero_shot.metrics.index) == ["syn0005", "syn0006"]
    assert "coverage_90" in result.zero_shot.metrics


def test_relaunch_skips_members_that_finished(trained):
    config, outcome = trained
    with log_lines() as lines:
        models = train_all(member_configs(config), outcome.run, storage=config.PROJECT_DIR / "ray")
    assert len(models) == 2
    assert sum("trained already" in line for line in lines) == 2


def test_one_member_is_not_an_ensemble(tiny_store, tmp_path):
    with pytest.raises(ConfigError, match="at least 2 members"):
        member_configs(tiny_config(tiny_store, tmp_path, LSTM_ENSEMBLE_SIZE=1))


def test_seed_list_names_the_members(tiny_store, tmp_path):
    configs = member_configs(tiny_config(tiny_store, tmp_path, LSTM_ENSEMBLE_SEEDS=[7, 11]))
    assert {label: c.SEED for label, c in configs.items()} == {"seed_7": 7, "seed_11": 11}
    assert str(configs["seed_7"].PROJECT_DIR).endswith("members/seed_7")
