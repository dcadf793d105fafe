"""MLflow tracking with a real sqlite store: what a training run records, registry, pyfunc."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import ray

from regional_lstm.artifacts import load_model, sidecar_path
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.tracking.models import using_store
from regional_lstm.tracking.store import client_for
from regional_lstm.workflows.train import train
from tests.conftest import model_input, run_cli, tiny_config

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def outcome(ray_cluster, tiny_store, tmp_path_factory):
    project = tmp_path_factory.mktemp("tracked")
    config = tiny_config(tiny_store, project, LSTM_SAVE_MODEL=True, LSTM_EPOCHS=3)
    return config, train(config)


def test_default_store_is_an_absolute_sqlite_file_in_the_project(outcome):
    config, result = outcome
    assert result.run.uri == f"sqlite:///{config.PROJECT_DIR / 'mlflow.db'}"
    experiment = client_for(result.run.uri).get_experiment_by_name("tiny")
    assert experiment.artifact_location == (config.PROJECT_DIR / "mlartifacts").as_uri()


def test_run_records_every_config_key_and_the_data_fingerprint(outcome):
    config, result = outcome
    params = client_for(result.run.uri).get_run(result.run.run_id).data.params
    assert set(config.to_yaml_dict()) <= set(params)
    assert params["LSTM_HIDDEN_SIZE"] == "16"
    assert params["data.n_basins"] == "6"
    assert len(params["data.store_metadata_sha256"]) == 64
    assert params["data.evaluation_period"] == "1993-01-01..1993-12-31"


def test_run_records_the_node_of_every_train_worker(outcome):
    config, result = outcome
    tags = client_for(result.run.uri).get_run(result.run.run_id).data.tags
    nodes = json.loads(tags["regional_lstm.worker_nodes"])
    assert len(nodes) == config.RAY_NUM_WORKERS
    assert set(nodes) == {ray.get_runtime_context().get_node_id()}  # the session's one node
    log = (config.PROJECT_DIR / "logs").glob("*.log")
    assert any(nodes[0] in path.read_text() for path in log)  # and the run's log says so


def test_run_has_per_epoch_metrics_and_final_summary(outcome):
    _, result = outcome
    client = client_for(result.run.uri)
    history = client.get_metric_history(result.run.run_id, "train_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert len(client.get_metric_history(result.run.run_id, "val_kge")) == 3
    metrics = client.get_run(result.run.run_id).data.metrics
    assert metrics["nse_median"] == pytest.approx(result.evaluation.summary["nse_median"])
    assert metrics["n_basins"] == 6
    run = client.get_run(result.run.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["regional_lstm.kind"] == "train"


def test_run_keeps_results_and_the_model_as_artifacts(outcome, tmp_path):
    _, result = outcome
    client = client_for(result.run.uri)
    results = {a.path for a in client.list_artifacts(result.run.run_id, "results")}
    assert "results/metrics.csv" in results
    assert "results/syn0001_LSTM_predictions.csv" in results
    with using_store(result.run.uri):
        local = Path(mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path)))
    files = sorted(p.name for p in (local / "artifacts").iterdir())
    assert files == ["best_model.json", "best_model.pt"]
    assert (local / "MLmodel").is_file()
    assert not list(local.rglob("*.pkl"))


def test_results_and_model_files_get_the_mode_the_umask_asks_for(outcome):
    config, result = outcome
    umask = os.umask(0o022)
    os.umask(umask)
    files = [result.model_path, sidecar_path(result.model_path)]
    files += sorted((config.PROJECT_DIR / "results").glob("*.csv"))
    assert "metrics.csv" in {f.name for f in files}
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)


def test_pyfunc_predict_has_the_type_hints_mlflow_asks_for():
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import regional_lstm.tracking.pyfunc_model"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "type hint" not in done.stderr


def test_saved_model_is_registered_and_loads_by_alias_to_the_same_predictions(outcome):
    config, result = outcome
    assert result.registered_version == "1"
    with using_store(result.run.uri):
        pyfunc = mlflow.pyfunc.load_model("models:/tiny-lstm@latest")
    model, card = load_model(result.model_path)
    reader = StoreReader(config.DATA_STORE)
    basin = "syn0002"
    period = config.VALIDATION_PERIOD
    frame = model_input(config.DATA_STORE, card, [basin], period)
    predicted = pyfunc.predict(frame)
    own = predict_period(model, card, reader, [basin], period)[basin]
    # The table starts at the period start, so its first lookback - 1 days have no full window.
    # It has fewer windows, so they fall into other batches: oneDNN may then round a float32
    # output differently in its last bit (seen on an AVX2-only CPU: 1 of 306, 9e-8 relative).
    lookback = card.data.lookback
    np.testing.assert_allclose(
        predicted["streamflow"].to_numpy()[lookback - 1 :],
        own["streamflow_sim"].to_numpy()[lookback - 1 :],
        rtol=1e-6,
        atol=0,
    )
    assert predicted["streamflow"].iloc[: lookback - 1].isna().all()


def test_logged_model_predicts_the_same_from_an_xarray_dataset(outcome):
    config, result = outcome
    with using_store(result.run.uri):
        pyfunc = mlflow.pyfunc.load_model("models:/tiny-lstm@latest")
    _, card = load_model(result.model_path)
    frame = model_input(config.DATA_STORE, card, ["syn0002", "syn0003"], config.VALIDATION_PERIOD)
    dataset = frame.rename(columns={"date": "time"}).set_index(["basin", "time"]).to_xarray()
    for name in card.data.static:  # attributes per basin, as a store holds them
        dataset[name] = dataset[name].isel(time=0, drop=True)
    from_dataset = pyfunc.predict(dataset)
    from_frame = pyfunc.predict(frame)
    pd.testing.assert_frame_equal(from_dataset, from_frame, check_dtype=False)


def test_promote_moves_an_alias_to_a_version(outcome):
    config, result = outcome
    project = ("--project", config.PROJECT_DIR)
    done = run_cli("registry", "promote", "tiny-lstm", "1", "--alias", "donor", *project)
    assert done.returncode == 0, done.stderr
    version = client_for(result.run.uri).get_model_version_by_alias("tiny-lstm", "donor")
    assert str(version.version) == "1"
    missing = run_cli("registry", "promote", "tiny-lstm", "7", "--alias", "donor", *project)
    assert missing.returncode == 1
    assert "no version 7" in missing.stderr and "Traceback" not in missing.stderr


def test_evaluate_and_compare_commands_read_the_same_store(outcome, tmp_path):
    config, result = outcome
    cli = [sys.executable, "-m", "regional_lstm"]
    done = subprocess.run(
        [*cli, "evaluate", str(config.PROJECT_DIR), "--no-plots"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    client = client_for(result.run.uri)
    experiment = client.get_experiment_by_name("tiny").experiment_id
    evaluations = client.search_runs(
        [experiment], filter_string="tags.`regional_lstm.kind` = 'evaluate'"
    )
    assert len(evaluations) == 1
    table = tmp_path / "runs.csv"
    done = run_cli("compare", "--project", config.PROJECT_DIR, "--csv", table)
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(table)
    assert runs["run_id"].tolist() == [result.run.run_id]
    assert runs["hidden"].tolist() == [16]
    per_basin = tmp_path / "basins.csv"
    pair = (result.run.run_id, evaluations[0].info.run_id)
    done = run_cli(
        "compare", "--project", config.PROJECT_DIR, "--basins", *pair, "--csv", per_basin
    )
    assert done.returncode == 0, done.stderr
    basins = pd.read_csv(per_basin)
    assert len(basins) == 6
    assert basins["dNSE"].abs().max() < 1e-6  # same model, same period
