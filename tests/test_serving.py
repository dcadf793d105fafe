"""`mlflow models serve` of a registered model: a real scoring server on 127.0.0.1 answers the
README's request with the toolkit's predictions."""

from __future__ import annotations

import numpy as np

from regional_lstm.artifacts import load_model
from regional_lstm.config_periods import Period
from regional_lstm.evaluation.predict import predict_frame
from regional_lstm.tracking.models import log_model, promote, register
from regional_lstm.tracking.runs import closing, start_run
from tests.conftest import model_input, tiny_config, train_in_process
from tests.interop import served_predictions


def test_a_served_model_answers_a_request_with_the_toolkit_s_predictions(tiny_store, tmp_path):
    config = tiny_config(
        tiny_store, tmp_path / "project", LSTM_EPOCHS=1, LSTM_LAGGED_STREAMFLOW=[1]
    )
    weights = train_in_process(config)
    tracked = start_run(config, "train")
    with closing(tracked):
        version = register(tracked, log_model(tracked, weights), "tiny-served")
    promote(tracked.uri, "tiny-served", version, "production")

    model, card = load_model(weights)
    period = Period.parse("1993-01-01,1993-03-31")
    table = model_input(tiny_store, card, ["syn0001", "syn0002"], period)
    table["date"] = table["date"].dt.strftime("%Y-%m-%d")
    table["streamflow"] = np.nan  # readings: none here (JSON null), as for an ungauged basin
    table.loc[table["date"] >= "1993-02-01", "streamflow"] = 1.5
    # The README's request: one row per basin and day, inputs and attributes as columns.
    served = served_predictions("models:/tiny-served@production", tracked.uri, table, tmp_path)

    expected = predict_frame(model, card, table)
    assert list(served.columns) == ["basin", "date", "streamflow"]
    assert len(served) == len(expected) == 2 * 90
    both = served["streamflow"].notna()
    assert both.equals(expected["streamflow"].notna())
    assert both.sum() == 2 * (90 - card.data.lookback + 1)  # each basin's first full window on
    gap = (served["streamflow"][both] - expected["streamflow"][both]).abs().max()
    print(f"served vs toolkit: max |diff| {gap:.2e} mm/day")  # with -s
    np.testing.assert_allclose(served["streamflow"][both], expected["streamflow"][both], rtol=1e-5)
