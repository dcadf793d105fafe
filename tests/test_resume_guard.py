"""A relaunch into a used PROJECT_DIR resumes only the same experiment."""

from __future__ import annotations

import json

import pytest

from regional_lstm.errors import ConfigError
from regional_lstm.pipeline.fitting import guard_resume
from tests.conftest import tiny_config


def test_a_changed_key_in_a_used_project_is_refused_and_a_resumable_one_is_not(tmp_path):
    config = tiny_config(tmp_path / "store.zarr", tmp_path / "project")
    guard_resume(config, tmp_path)
    guard_resume(config.with_overrides(RAY_NUM_WORKERS=2, LSTM_EPOCHS=9), tmp_path)
    with pytest.raises(ConfigError, match="changed: LSTM_HIDDEN_SIZE"):
        guard_resume(config.with_overrides(LSTM_HIDDEN_SIZE=32), tmp_path)


def test_a_run_recorded_before_a_key_existed_resumes_when_the_key_keeps_its_default(tmp_path):
    config = tiny_config(tmp_path / "store.zarr", tmp_path / "project")
    guard_resume(config, tmp_path)
    record = tmp_path / "experiment.json"
    older = json.loads(record.read_text())
    for key in ("LSTM_PREDICT_LAST_N", "LSTM_VALIDATION_BASINS", "LSTM_MIXED_PRECISION"):
        del older[key]
    record.write_text(json.dumps(older))
    guard_resume(config, tmp_path)
    record.write_text(json.dumps(older))
    with pytest.raises(ConfigError, match="changed: LSTM_PREDICT_LAST_N"):
        guard_resume(config.with_overrides(LSTM_PREDICT_LAST_N=7), tmp_path)
