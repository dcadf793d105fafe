"""Ungauged transfer: a donor trained on some synthetic basins predicts others it never saw."""

from __future__ import annotations

import pytest
import torch
import xarray as xr

from regional_lstm.artifacts import load_model
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError
from regional_lstm.pipeline.donors import load_donor
from regional_lstm.tracking.models import log_model, promote, register
from regional_lstm.tracking.runs import start_run
from regional_lstm.training.checkpoint import read_checkpoint
from regional_lstm.training.fit import WorkerContext, fit
from regional_lstm.workflows.transfer import finetune_plan, transfer
from tests.conftest import log_lines, tiny_config, train_in_process

DONOR_BASINS = [f"syn{i:04d}" for i in range(1, 25)]
TARGET_BASINS = [f"syn{i:04d}" for i in range(25, 31)]
SETTINGS = {"VALIDATION_PERIOD": [1993, 1994], "LSTM_LOOKBACK": 90, "LSTM_HIDDEN_SIZE": 32}


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """30 synthetic basins; a donor trained (without Ray) on the first 24."""
    from regional_lstm.data.synth import synthesize

    root = tmp_path_factory.mktemp("region")
    store = synthesize(root / "store.zarr", basins=30, years=5, seed=5)
    config = tiny_config(
        store,
        root / "donor",
        BASINS=DONOR_BASINS,
        LSTM_EPOCHS=8,
        LSTM_SAMPLES_PER_EPOCH=4096,
        LSTM_DROPOUT=0.1,
        **SETTINGS,
    )
    return store, config, train_in_process(config)


def target_config(store, project, donor, **overrides):
    values = SETTINGS | {"BASINS": TARGET_BASINS, "LSTM_PRETRAINED_MODEL": str(donor)}
    return tiny_config(store, project, **(values | overrides))


@pytest.fixture(scope="module")
def zero_shot(region, tmp_path_factory):
    store, _, donor = region
    project = tmp_path_factory.mktemp("zero_shot")
    with log_lines() as lines:
        return project, transfer(target_config(store, project, donor)), lines


def test_zero_shot_transfer_beats_each_basins_own_climatology(zero_shot):
    project, outcome, _ = zero_shot
    table = outcome.zero_shot.metrics
    assert sorted(table.index) == TARGET_BASINS
    assert table["NSE"].median() > table["NSE_climatology"].median() + 0.3
    assert outcome.fine_tuned is None
    assert not (project / "models").exists()  # zero-shot trains nothing
    csv = outcome.zero_shot.results_dir / f"{TARGET_BASINS[0]}_LSTM_predictions.csv"
    assert csv.is_file()


def test_zero_shot_transfer_to_a_store_on_s3_scores_as_from_disk(region, zero_shot, s3, tmp_path):
    from regional_lstm.data.synth import synthesize

    _, _, donor = region
    _, local, _ = zero_shot
    remote = synthesize(f"s3://{s3.new_bucket()}/store.zarr", basins=30, years=5, seed=5)
    outcome = transfer(target_config(remote, tmp_path / "project", donor))
    assert outcome.zero_shot.metrics["NSE"].equals(local.zero_shot.metrics["NSE"])


def test_attributes_outside_the_donors_range_are_reported_by_basin(region, zero_shot):
    store, _, _ = region
    _, outcome, lines = zero_shot
    reader = StoreReader(store)
    names = ["area", "aridity", "elev_mean"]
    seen = reader.read_static(DONOR_BASINS, names)
    targets = reader.read_static(TARGET_BASINS, names)
    outside = (targets < seen.min(axis=0)) | (targets > seen.max(axis=0))
    expected = {
        basin: [n for n, out in zip(names, row, strict=True) if out]
        for basin, row in zip(TARGET_BASINS, outside, strict=True)
        if row.any()
    }
    assert expected  # this seeded region has such basins
    assert outcome.out_of_range == expected
    warning = next(line for line in lines if line.startswith("warning:"))
    assert all(basin in warning for basin in expected)


def test_donor_applies_to_the_basins_of_another_store(region, tiny_store, tmp_path):
    _, _, donor = region
    settings = SETTINGS | {"VALIDATION_PERIOD": [1993, 1993]}
    config = tiny_config(tiny_store, tmp_path, LSTM_PRETRAINED_MODEL=str(donor), **settings)
    outcome = transfer(config)
    assert sorted(outcome.zero_shot.metrics.index) == StoreReader(tiny_store).basins
    assert outcome.zero_shot.metrics["NSE"].notna().all()
    params = outcome.run.client.get_run(outcome.run.run_id).data.params
    assert params["DATA_STORE"] == str(tiny_store)


def test_missing_attribute_in_the_target_store_is_an_error(region, tmp_path):
    store, _, donor = region
    lacking = tmp_path / "lacking.zarr"
    xr.open_zarr(store).drop_vars("aridity").to_zarr(lacking, consolidated=True)
    config = target_config(lacking, tmp_path / "project", donor)
    with pytest.raises(ConfigError, match=r"needs static attribute.*aridity.*lacks"):
        transfer(config)


def test_inputs_other_than_the_donors_are_refused(region, tmp_path):
    store, _, donor = region
    config = target_config(store, tmp_path, donor, STATIC_ATTRIBUTES=["area", "aridity"])
    with pytest.raises(ConfigError, match=r"STATIC_ATTRIBUTES .* differ from the donor's"):
        transfer(config)


def test_transfer_needs_a_donor(tiny_store, tmp_path):
    with pytest.raises(ConfigError, match="transfer needs LSTM_PRETRAINED_MODEL"):
        transfer(tiny_config(tiny_store, tmp_path))


def test_registered_donor_is_found_by_alias_and_recorded_as_lineage(region, tmp_path):
    store, donor_config, donor = region
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = start_run(donor_config.with_overrides(MLFLOW_TRACKING_URI=uri), "train")
    version = register(run, log_model(run, donor), "region-lstm")
    promote(uri, "region-lstm", version, "donor")
    config = target_config(
        store, tmp_path / "target", "models:/region-lstm@donor", MLFLOW_TRACKING_URI=uri
    )
    outcome = transfer(config)
    tags = outcome.run.client.get_run(outcome.run.run_id).data.tags
    assert tags["regional_lstm.donor"] == "models:/region-lstm@donor"
    assert tags["regional_lstm.donor_version"] == version
    assert tags["regional_lstm.donor_run_id"] == run.run_id
    assert outcome.zero_shot.metrics["NSE"].median() > 0


def test_unknown_registered_donor_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="models:/nobody@donor: not found"):
        load_donor("models:/nobody@donor", f"sqlite:///{tmp_path / 'm.db'}", tmp_path)


def test_frozen_parts_keep_the_donors_weights(region, tmp_path):
    store, _, donor = region
    config = target_config(store, tmp_path, donor, LSTM_FREEZE=["lstm"], LSTM_EPOCHS=1)
    plan = finetune_plan(
        config, load_donor(str(donor), "", tmp_path), StoreReader(store), TARGET_BASINS
    )
    assert plan.frozen == ("lstm",)
    trained = {}

    def keep_last_weights(metrics, folder):
        if folder is not None:
            trained.update(read_checkpoint(folder)[0])

    fit(plan, WorkerContext(report=keep_last_weights))
    original, _ = load_model(donor)
    for name, value in original.state_dict().items():
        unchanged = torch.equal(value, trained[name])
        assert unchanged if name.startswith("lstm.") else not unchanged, name


def test_unknown_part_to_freeze_is_a_config_error(region, tmp_path):
    store, _, donor = region
    config = target_config(store, tmp_path, donor, LSTM_FREEZE=["lstm.3"])
    with pytest.raises(ConfigError, match="LSTM_FREEZE: unknown model parts"):
        finetune_plan(config, load_donor(str(donor), "", tmp_path), StoreReader(store), [])


@pytest.mark.ray
def test_fine_tuning_improves_the_target_basins_and_keeps_the_donors_scaling(
    region, ray_cluster, tmp_path
):
    store, _, donor = region
    config = target_config(
        store,
        tmp_path,
        donor,
        LSTM_FINETUNE=True,
        LSTM_EPOCHS=6,
        LSTM_LEARNING_RATE=0.003,
        LSTM_SAMPLES_PER_EPOCH=2048,
        LSTM_SAVE_MODEL=True,
    )
    outcome = transfer(config)
    assert outcome.fine_tuned.metrics["NSE"].median() > outcome.zero_shot.metrics["NSE"].median()
    _, tuned = load_model(tmp_path / "models" / "LSTM" / "best_model.pt")
    _, original = load_model(donor)
    assert tuned.normalization == original.normalization
    assert tuned.trained_basins == TARGET_BASINS
    run = outcome.run.client.get_run(outcome.run.run_id)
    assert run.data.tags["regional_lstm.donor"] == str(donor)
    assert "fine_tuned_nse_median" in run.data.metrics
    assert "val_nse" in run.data.metrics  # per-epoch fine-tuning metrics
    assert outcome.registered_version == "1"
    assert (tmp_path / "results" / "transfer_comparison.csv").is_file()
