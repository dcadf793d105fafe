"""The MLflow pyfunc flavour of a regional-lstm model, logged as code (no pickled objects).

MLflow loads this file as the model's code ("models from code"); the weights and the JSON
sidecar travel as plain artifacts and load with ``regional_lstm.artifacts.load_model``.
"""

from __future__ import annotations

import mlflow
import pandas as pd
import xarray as xr


class RegionalLSTMPyfunc(mlflow.pyfunc.PythonModel):
    """Predicts streamflow (and SWE) from forcings and attributes, as a DataFrame or xarray."""

    def load_context(self, context) -> None:
        from regional_lstm.artifacts import load_model

        self.model, self.card = load_model(context.artifacts["weights"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        """``model_input``: columns basin, date, inputs, attributes; or a (basin, time) Dataset."""
        from regional_lstm.evaluation.predict import predict_frame

        if isinstance(model_input, xr.Dataset):
            model_input = model_input.to_dataframe().reset_index().rename(columns={"time": "date"})
        return predict_frame(self.model, self.card, model_input)


mlflow.models.set_model(RegionalLSTMPyfunc())
