"""Basin ids are data, not paths: the result writers refuse an id that is not a plain file name,
behind the checks at ingest and when a store is opened (tests/reliability/test_basin_ids_ingest.py),
so no result file is written under a name built from ``../../../x``, inside or outside."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.outputs import prediction_table, write_predictions

HOSTILE = "../../../x"


def test_prediction_csvs_are_refused_before_a_file_is_written(tmp_path):
    results = tmp_path / "a" / "b" / "c" / "results"
    results.mkdir(parents=True)
    dates = pd.date_range("2000-01-01", periods=3, freq="D")
    frame = pd.DataFrame({"streamflow_obs": np.ones(3), "streamflow_sim": np.ones(3)}, dates)
    with pytest.raises(RegionalLSTMError, match=r"basin id '\.\./\.\./\.\./x' cannot be part"):
        write_predictions(results, HOSTILE, prediction_table(frame, 100.0, snow=False))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
