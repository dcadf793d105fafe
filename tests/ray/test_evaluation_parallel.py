"""Exact prediction spread over Ray workers gives the serial path's results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from regional_lstm.artifacts import load_model
from regional_lstm.data.reader import StoreReader
from regional_lstm.distributed.predict import predict_members_distributed, shards
from regional_lstm.evaluation.predict import predict_members
from regional_lstm.pipeline.results import evaluate_project
from tests.conftest import tiny_config, train_in_process


@pytest.fixture(scope="module")
def trained(tiny_store, tmp_path_factory):
    """A small model trained in-process on the tiny store (6 basins, lookback 60)."""
    config = tiny_config(tiny_store, tmp_path_factory.mktemp("parallel"))
    return config, train_in_process(config)


@pytest.fixture(scope="module")
def two_members(trained):
    """The model and a copy whose head predicts differently: an ensemble of two."""
    _, path = trained
    model, card = load_model(path)
    other, _ = load_model(path)
    with torch.no_grad():
        other.head.bias.add_(0.5)
    return [(model, card), (other, card)]


def assert_same_predictions(serial: dict, distributed: dict) -> None:
    assert list(distributed) == list(serial)
    for basin, frame in serial.items():
        other = distributed[basin]
        pd.testing.assert_index_equal(other.index, frame.index)
        assert list(other.columns) == list(frame.columns)
        np.testing.assert_array_equal(other["streamflow_obs"], frame["streamflow_obs"])
        np.testing.assert_allclose(
            other["streamflow_sim"], frame["streamflow_sim"], rtol=1e-5, atol=1e-6
        )


def test_the_basins_are_shared_between_two_workers(trained):
    config, _ = trained
    basins = StoreReader(config.DATA_STORE).basins
    assert [len(shard) for shard in shards(basins, 2)] == [3, 3]


@pytest.mark.parametrize("mode", ["exact", "stateful"])
def test_distributed_members_predict_what_the_serial_path_does(
    ray_cluster, trained, two_members, mode
):
    config, _ = trained
    reader = StoreReader(config.DATA_STORE)
    basins, period = two_members[0][1].trained_basins, config.VALIDATION_PERIOD
    serial = predict_members(two_members, reader, basins, period, mode=mode)
    spread = predict_members_distributed(
        two_members, reader, basins, period, mode=mode, spread=True
    )
    for alone, together in zip(serial, spread, strict=True):
        assert_same_predictions(alone, together)
    assert not spread[0][basins[0]].equals(spread[1][basins[0]])


def test_distributed_evaluation_writes_the_serial_metrics(ray_cluster, trained):
    config, _ = trained
    serial = evaluate_project(config.PROJECT_DIR, plots=False, distribute=False).metrics
    spread = evaluate_project(config.PROJECT_DIR, plots=False, distribute=True).metrics
    pd.testing.assert_frame_equal(spread, serial, rtol=1e-5, atol=1e-6)
