"""`export`: one ONNX or TorchScript file in physical units that runs without this package
(onnxruntime alone, plain torch.jit.load) and predicts what the toolkit predicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.pipeline.donors import resolve_model
from regional_lstm.workflows.export import export
from tests.conftest import assert_one_line_error, run_cli, tiny_config, train_in_process
from tests.interop import physical_windows, run_alone

BASINS = [f"syn{i:04d}" for i in range(1, 7)]
MODELS = {
    "lstm-with-lagged-streamflow": {"LSTM_LAGGED_STREAMFLOW": [1, 2]},
    "ealstm-embedding": {"LSTM_STATIC_CONDITIONING": "ealstm", "LSTM_STATIC_EMBEDDING": 8},
}
DAYS = slice(1100, 1130)  # the window ends exported and compared (in 1993)


@pytest.fixture(scope="module", params=list(MODELS))
def project(request, tiny_store, tmp_path_factory):
    root = tmp_path_factory.mktemp(request.param)
    config = tiny_config(tiny_store, root / "project", LSTM_EPOCHS=1, **MODELS[request.param])
    train_in_process(config)
    return config


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_exported_file_alone_predicts_what_the_toolkit_does(project, fmt, tmp_path):
    out = tmp_path / f"model.{fmt}"
    written, sidecar = export(str(project.PROJECT_DIR), fmt, out)
    assert written == out and sidecar.name == f"model.{fmt}.json"
    donor = resolve_model(str(project.PROJECT_DIR), None, tmp_path)
    (model, card), reader = donor.members[0], StoreReader(project.store)
    ends = np.arange(DAYS.start, DAYS.stop)
    x_dynamic, x_static = physical_windows(project.store, card, BASINS, ends)
    ours = run_alone(fmt, written, x_dynamic, x_static, tmp_path)

    period = Period(reader.time[DAYS.start], reader.time[DAYS.stop - 1])
    frames = predict_period(model, card, reader, BASINS, period)
    toolkit = np.concatenate([frames[b]["streamflow_sim"].to_numpy() for b in BASINS])
    assert ours.shape == (len(BASINS) * len(ends),)
    print(f"{fmt} vs toolkit: max |diff| {abs(ours - toolkit).max():.2e} mm/day")  # with -s
    np.testing.assert_allclose(ours, toolkit, rtol=1e-4, atol=1e-4)

    description = json.loads(sidecar.read_text())
    names = [d["name"] for d in description["dynamic"]]
    assert names == [*card.data.dynamic, *(f"streamflow_lag{lag}" for lag in card.data.lags)]
    assert description["dynamic"][0] == {"name": "prcp", "units": "mm/day"}
    assert [d["name"] for d in description["static"]] == list(card.data.static)
    assert description["static"][0]["units"] == reader.units["area"]
    assert description["lookback"] == card.data.lookback
    assert description["target"] == {"name": "streamflow", "units": "mm/day"}
    assert description["model"]["model_weights_sha256"]


def test_an_ensemble_exports_as_its_members_mean(tiny_store, tmp_path):
    members = []
    for seed in (1, 2):
        config = tiny_config(tiny_store, tmp_path / f"m{seed}", LSTM_EPOCHS=1, SEED=seed)
        members.append(train_in_process(config))
    from regional_lstm.artifacts import save_ensemble

    folder = tmp_path / "ensemble"
    save_ensemble(folder, members, {"statistic": "mean"})
    written, _ = export(str(folder), "onnx", tmp_path / "ensemble.onnx", store=str(tiny_store))
    donor = resolve_model(str(folder), None, tmp_path)
    card = donor.card
    ends = np.arange(DAYS.start, DAYS.start + 5)
    x_dynamic, x_static = physical_windows(tiny_store, card, BASINS, ends)
    ours = run_alone("onnx", written, x_dynamic, x_static, tmp_path)
    reader = StoreReader(tiny_store)
    period = Period(reader.time[ends[0]], reader.time[ends[-1]])
    each = [
        np.concatenate(
            [predict_period(m, c, reader, BASINS, period)[b]["streamflow_sim"] for b in BASINS]
        )
        for m, c in donor.members
    ]
    np.testing.assert_allclose(ours, np.mean(each, axis=0), rtol=1e-4, atol=1e-4)


def test_bad_exports_are_one_line(project, tmp_path):
    result = run_cli("export", project.PROJECT_DIR, "--format", "pmml", "--out", tmp_path / "m")
    assert_one_line_error(result, "--format 'pmml'", "onnx or torchscript")
    result = run_cli("export", tmp_path / "nothing", "--format", "onnx", "--out", tmp_path / "m")
    assert_one_line_error(result, "no such model")
    with pytest.raises(RegionalLSTMError, match="give --store"):
        export(str(project.PROJECT_DIR), "onnx", tmp_path / "m.onnx", store=str(tmp_path / "x"))
    assert not list(tmp_path.glob("m*"))
