"""Running a model outside the toolkit: an exported file in a fresh interpreter (onnxruntime or
plain torch, nothing of ours imported), and a model served by `mlflow models serve`."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import numpy as np
import pandas as pd

from regional_lstm.data.reader import StoreReader
from tests.servers import model_server

# Runs in a fresh interpreter: the exported file, numpy and one runtime, nothing of ours.
RUNNER = """
import sys, numpy as np
kind, model, inputs, outputs = sys.argv[1:]
data = np.load(inputs)
if kind == "onnx":
    import onnxruntime
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x_dynamic": data["x_dynamic"], "x_static": data["x_static"]})
else:
    import torch
    module = torch.jit.load(model)
    with torch.no_grad():
        y = module(torch.from_numpy(data["x_dynamic"]), torch.from_numpy(data["x_static"])).numpy()
np.save(outputs, y)
assert not [name for name in sys.modules if name.startswith("regional_lstm")]
"""


def physical_windows(store, card, basins, ends):
    """The exported inputs for windows ending at store positions ``ends``: raw forcings plus
    each lag's raw reading (NaN where missing), and raw attributes."""
    reader = StoreReader(store)
    lookback, lead = card.data.lookback, max(card.data.lags, default=0)
    first, last = ends[0] - lookback + 1, ends[-1] + 1
    forcing = reader.read_optional(basins, list(card.data.dynamic), slice(first, last))
    flow = reader.read_optional(basins, ["streamflow"], slice(first - lead, last))[..., 0]
    channels = [forcing] + [
        flow[:, lead - lag : lead - lag + forcing.shape[1], None] for lag in card.data.lags
    ]
    series = np.concatenate(channels, axis=-1)
    windows = [
        series[b, e - first - lookback + 1 : e - first + 1]
        for b in range(len(basins))
        for e in ends
    ]
    static = reader.read_static(basins, list(card.data.static))
    x_static = np.repeat(static, len(ends), axis=0)
    return np.stack(windows).astype(np.float32), x_static.astype(np.float32)


def run_alone(kind, path, x_dynamic, x_static, tmp_path):
    inputs, outputs = tmp_path / f"{kind}_in.npz", tmp_path / f"{kind}_out.npy"
    np.savez(inputs, x_dynamic=x_dynamic, x_static=x_static)
    result = subprocess.run(
        [sys.executable, "-I", "-c", RUNNER, kind, str(path), str(inputs), str(outputs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return np.load(outputs)


def served_predictions(model_uri: str, tracking_uri: str, table: pd.DataFrame, folder):
    """POST ``table`` (the pyfunc's long table) to `mlflow models serve` of ``model_uri``, as
    the README shows, and return the predictions it answers with."""
    body = {"dataframe_split": json.loads(table.to_json(orient="split", index=False))}
    with model_server(model_uri, tracking_uri, folder) as url:
        request = urllib.request.Request(
            f"{url}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return pd.DataFrame(json.loads(answer.read())["predictions"])
