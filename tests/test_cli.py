"""The command line as a user meets it: exit codes, one-line errors, machine-readable output."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import (
    NH_CAMELS_US,
    ROOT,
    assert_one_line_error,
    run_cli,
    tiny_config,
    write_basin_list,
)
from tests.servers import free_port


def test_ingest_then_inspect_json(shared_data, tmp_path):
    basins = write_basin_list(tmp_path / "basins.txt", ["01022500", "03015500"])
    store = tmp_path / "us.zarr"
    result = run_cli("ingest", "camels-us", NH_CAMELS_US, "--out", store, "--basins", basins)
    assert result.returncode == 0, result.stderr
    summary = json.loads(run_cli("inspect", store, "--json").stdout)
    assert summary["basins"] == ["01022500", "03015500"]
    assert summary["period"] == {"start": "2000-01-01", "end": "2003-12-31", "days": 1461}
    streamflow = next(v for v in summary["dynamic_variables"] if v["name"] == "streamflow")
    assert streamflow["units"] == "mm/day"
    assert 0.0 <= streamflow["missing_fraction"] < 0.3
    assert {"name": "area", "units": "km2"}.items() <= next(
        a for a in summary["static_attributes"] if a["name"] == "area"
    ).items()
    assert summary["provenance"]["source_kind"] == "camels-us"


def test_inspect_prints_a_readable_summary(shared_data, tmp_path):
    basins = write_basin_list(tmp_path / "basins.txt", ["01022500"])
    store = tmp_path / "us.zarr"
    run_cli("ingest", "camels-us", NH_CAMELS_US, "--out", store, "--basins", basins)
    text = run_cli("inspect", store).stdout
    assert "2000-01-01 .. 2003-12-31" in text
    assert "streamflow" in text and "mm/day" in text


def test_ingest_over_an_existing_store_needs_overwrite(shared_data, tmp_path):
    basins = write_basin_list(tmp_path / "basins.txt", ["01022500"])
    store = tmp_path / "us.zarr"
    args = ("ingest", "camels-us", NH_CAMELS_US, "--out", store, "--basins", basins)
    assert run_cli(*args).returncode == 0
    assert_one_line_error(run_cli(*args), str(store), "--overwrite")
    assert run_cli(*args, "--overwrite").returncode == 0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("ingest", "camels-us", "/no/such/dir", "--out", "x.zarr"), ("/no/such/dir",)),
        (("ingest", "grdc", ".", "--out", "x.zarr"), ("unknown ingest kind 'grdc'",)),
        (("inspect", "/no/such/store.zarr"), ("/no/such/store.zarr", "no Zarr store")),
        (("check", "/no/such/config.yaml"), ("/no/such/config.yaml",)),
    ],
)
def test_bad_input_is_one_line_and_exit_code_one(args, needles, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert_one_line_error(result, *needles)
    assert not (tmp_path / "x.zarr").exists()


def test_config_typo_suggests_the_closest_key(tmp_path):
    config = (ROOT / "experiments" / "example_full.yaml").read_text()
    bad = tmp_path / "exp.yaml"
    bad.write_text(config.replace("\nLSTM_HIDDEN_SIZE:", "\nLSTM_HIDEN_SIZE:", 1))
    result = run_cli("check", bad, cwd=tmp_path)
    assert_one_line_error(result, "LSTM_HIDEN_SIZE", "LSTM_HIDDEN_SIZE")


def test_check_prints_the_resolved_config(tmp_path):
    result = run_cli("check", ROOT / "experiments" / "example_full.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "LSTM_HIDDEN_SIZE:" in result.stdout
    assert f"PROJECT_DIR: {tmp_path}" in result.stdout
    assert "early stopping" in result.stderr


def test_cli_refuses_fewer_than_two_folds_before_training(tiny_store, tmp_path):
    config = tmp_path / "pub.yaml"
    config.write_text(yaml.safe_dump(tiny_config(tiny_store, tmp_path / "project").to_yaml_dict()))
    result = run_cli("pub", config, "--folds", "1", cwd=tmp_path)
    assert_one_line_error(result, "'--folds'", "greater than or equal to 2")
    assert result.returncode == 2
    assert not (tmp_path / "project").exists()


def test_an_unreachable_job_api_is_one_line(tmp_path, tiny_store):
    config = tiny_config(tiny_store, tmp_path / "project")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    result = run_cli("submit", path, "--address", f"http://127.0.0.1:{free_port()}")
    assert_one_line_error(result, "no Ray Job API here")


def test_resume_is_refused_for_a_job_that_is_not_a_sweep(tmp_path, tiny_store):
    config = tiny_config(tiny_store, tmp_path / "project")
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    address = f"http://127.0.0.1:{free_port()}"
    result = run_cli("submit", path, "--verb", "train", "--resume", "--address", address)
    assert_one_line_error(result, "--resume continues a sweep (--verb tune)")
