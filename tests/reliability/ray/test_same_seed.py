"""Same config, data and seed, same result: bit for bit on one worker, to 1e-6 on two.

Each of the session's trained tiny models (`trained`: one worker, two workers) is trained once
more in a new project and compared with the first.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from regional_lstm.artifacts import load_model
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.workflows.train import train

pytestmark = pytest.mark.ray


def test_the_same_seed_trains_the_same_model_again(trained, tmp_path):
    config, first, _ = trained
    second = train(config.with_overrides(PROJECT_DIR=str(tmp_path / "again")))
    metrics = [run.evaluation.metrics.select_dtypes("number") for run in (first, second)]
    if config.RAY_NUM_WORKERS > 1:  # gloo's all-reduce may sum the ranks in another order
        pd.testing.assert_frame_equal(*metrics, check_exact=False, rtol=0, atol=1e-6)
        return
    pd.testing.assert_frame_equal(*metrics, check_exact=True)
    (model_a, card), (model_b, _) = load_model(first.model_path), load_model(second.model_path)
    for name, weights in model_a.state_dict().items():
        assert torch.equal(weights, model_b.state_dict()[name]), name
    reader = StoreReader(config.DATA_STORE)
    basins, period = card.trained_basins, config.VALIDATION_PERIOD
    predictions = [predict_period(m, card, reader, basins, period) for m in (model_a, model_b)]
    for basin in basins:
        assert predictions[0][basin].equals(predictions[1][basin]), basin
