"""The MLflow pyfunc flavour of a regional-lstm model, logged as code (no pickled objects).

MLflow loads this file as the model's code ("models from code"); the weights and JSON sidecars
travel as plain artifacts and load with ``regional_lstm.artifacts``. An ensemble predicts its
members' mean (or median) with ``<target>_p05`` / ``<target>_p95`` columns.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
import xarray as xr


class RegionalLSTMPyfunc(mlflow.pyfunc.PythonModel):
    """Predicts streamflow (and SWE) from forcings and attributes, as a DataFrame or xarray."""

    def load_context(self, context) -> None:
        from regional_lstm.artifacts import load_members

        path = context.artifacts.get("ensemble") or context.artifacts["weights"]
        self.members, manifest = load_members(path)
        self.statistic = manifest.get("statistic", "mean")

    def predict(
        self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """``model_input``: columns basin, date, inputs, attributes; or a (basin, time) Dataset.

        The hint is pyfunc's DataFrame contract: MLflow then neither asks for hints nor
        validates the input, so a Dataset still passes through to the conversion below.
        """
        from regional_lstm.evaluation.predict import predict_frame

        if isinstance(model_input, xr.Dataset):
            model_input = model_input.to_dataframe().reset_index().rename(columns={"time": "date"})
        frames = [predict_frame(model, card, model_input) for model, card in self.members]
        if len(frames) == 1:
            return frames[0]
        out = frames[0][["basin", "date"]].copy()
        for target in self.members[0][1].data.targets:
            stacked = np.stack([frame[target].to_numpy() for frame in frames])
            centre = np.mean if self.statistic == "mean" else np.median
            out[target] = centre(stacked, axis=0)
            out[f"{target}_p05"] = np.quantile(stacked, 0.05, axis=0)
            out[f"{target}_p95"] = np.quantile(stacked, 0.95, axis=0)
        return out


mlflow.models.set_model(RegionalLSTMPyfunc())
