"""`regional-lstm simulate`: EXP-HYDRO with torchHydroNodes' calibrated parameters on real
CAMELS-US basins, checked against an independent solution of the same equations, and the
one-line refusals of bad parameter files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.exphydro_reference import converged
from datasets.exphydro_parameters import exphydro_parameters
from regional_lstm.config import Config
from regional_lstm.data.ingest import ingest
from regional_lstm.data.parameters import read_parameters
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError
from regional_lstm.evaluation.metrics import nse
from regional_lstm.registry import CONCEPTUAL_MODELS
from regional_lstm.workflows.simulate import simulate_tracked
from tests.conftest import ROOT, shared_dataset, write_basin_list

pytestmark = pytest.mark.shared_data
BASINS = ["01022500", "05057200"]  # wet New England, and a dry prairie basin near empty


@pytest.fixture(scope="module")
def exphydro_project(tmp_path_factory):
    """Store of two basins, their parameter file and an EXPHYDRO config: 1980-10 to 1982-09."""
    source = shared_dataset("camels_us_torchhydronodes")
    shared_dataset("camels_us_neuralhydrology_testdata")  # the mapping's attribute tables
    work = tmp_path_factory.mktemp("exphydro")
    store = ingest(
        "csv",
        source,
        work / "store.zarr",
        basins_file=write_basin_list(work / "basins.txt", BASINS),
        mapping=ROOT / "datasets/camels_us_torchhydronodes.yaml",
    )
    parameters = work / "parameters.csv"
    exphydro_parameters(source).to_csv(parameters, index=False, float_format="%.17g")
    config = {
        "DOMAIN_NAME": "exphydro",
        "HYDROLOGICAL_MODEL": "EXPHYDRO",
        "DATA_STORE": str(store),
        "PROJECT_DIR": str(work / "project"),
        "DYNAMIC_INPUTS": ["prcp", "tmin", "tmax", "dayl"],
        "CALIBRATION_PERIOD": ["1980-10-01", "1981-09-30"],
        "VALIDATION_PERIOD": ["1981-10-01", "1982-09-30"],
        "LSTM_LOOKBACK": 300,
    }
    return Config.from_mapping(config, source="exphydro.yaml"), parameters, source


def reference_solution(source, basin: str, days: int) -> np.ndarray:
    """The EXP-HYDRO ODEs solved by scipy's DOP853 to 1e-8, the forcing (Hamon PET of each
    day among it) interpolated linearly in time as the toolkit does: Qb + Qs at each day
    (the independent solution benchmarks/exphydro_reference.py compares against too). At 1e-7
    the reference itself drifts by ~0.5 % in the dry basin's trickle, where runoff follows the
    store exponentially: NSE 0.996 over that year's tiny variance."""
    frame = pd.read_csv(source / f"model_results/{basin}_results_train.csv").iloc[:days]
    return converged(frame, exphydro_parameters(source).set_index("basin").loc[basin], 1e-8)


def test_exphydro_solves_the_published_equations_on_real_basins(exphydro_project):
    config, parameters, source = exphydro_project
    evaluation = simulate_tracked(config, parameters, plots=False)
    results = config.PROJECT_DIR / "simulation"
    assert sorted(evaluation.metrics.index) == BASINS
    areas = StoreReader(config.store).read_static(BASINS, ["area"])[:, 0]
    for basin, area in zip(BASINS, areas, strict=True):
        table = pd.read_csv(results / f"{basin}_EXPHYDRO_predictions.csv", index_col="Date")
        assert table.index[0] == "1981-10-01" and len(table) == 365
        simulated = table["Predicted_m3s"].to_numpy() * 86.4 / area  # back to mm/day
        reference = reference_solution(source, basin, 730)[365:]
        assert nse(reference, simulated) > 0.999, basin


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.assign(UNKNOWN=1.0), "column 'UNKNOWN' is not a parameter of this model"),
        (lambda t: t.drop(columns="Qmax"), "no column for parameter 'Qmax'"),
        (lambda t: t.assign(f=t["f"].where(t.index != 1, np.inf)), "f of basin '01022500' is"),
        (lambda t: t.rename(columns={"basin": "gauge"}), "no 'basin' column"),
    ],
    ids=["unknown-column", "missing-parameter", "infinite-value", "no-basin-column"],
)
def test_a_bad_parameter_file_is_refused_in_one_line(exphydro_project, tmp_path, edit, message):
    _, parameters, _ = exphydro_project
    bad = tmp_path / "bad.csv"
    edit(pd.read_csv(parameters, dtype={"basin": str})).to_csv(bad, index=False)
    kind = CONCEPTUAL_MODELS["EXPHYDRO"]
    with pytest.raises(ConfigError, match=message) as error:
        read_parameters(bad, kind.parameter_names, [p.name for p in kind.initial])
    assert "\n" not in str(error.value)


def test_the_cli_refuses_an_lstm_config_in_one_line(exphydro_project, tmp_path):
    config, parameters, _ = exphydro_project
    lstm = tmp_path / "lstm.yaml"
    lstm.write_text(yaml.safe_dump(config.to_yaml_dict() | {"HYDROLOGICAL_MODEL": "LSTM"}))
    result = subprocess.run(
        [sys.executable, "-m", "regional_lstm", "simulate", str(lstm), "--parameters", parameters],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines[-1].startswith("error: LSTM: simulate runs a conceptual model"), lines
    assert "Traceback" not in result.stderr
