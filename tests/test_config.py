"""The experiment config: YAML forms, defaults, derived periods and one-line errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from regional_lstm.config import TUNABLE_KEYS, Config, Period, load_config
from regional_lstm.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "experiments" / "example_full.yaml"

REQUIRED = {
    "DOMAIN_NAME": "test",
    "CALIBRATION_PERIOD": [2000, 2007],
    "VALIDATION_PERIOD": [2008, 2009],
    "DATA_STORE": "store.zarr",
    "DYNAMIC_INPUTS": ["prcp", "tmin", "tmax", "srad"],
    "PROJECT_DIR": "runs/test",
}

DOCUMENTED_DEFAULTS = {
    "HYDROLOGICAL_MODEL": "LSTM",
    "LSTM_HIDDEN_SIZE": 128,
    "LSTM_NUM_LAYERS": 3,
    "LSTM_LOOKBACK": 700,
    "LSTM_DROPOUT": 0.2,
    "LSTM_EPOCHS": 300,
    "LSTM_BATCH_SIZE": 64,
    "LSTM_LEARNING_RATE": 0.001,
    "LSTM_LEARNING_RATE_SCHEDULE": "constant",
    "LSTM_LEARNING_PATIENCE": 30,
    "LSTM_L2_REGULARIZATION": 1e-6,
    "LSTM_USE_ATTENTION": True,
    "LSTM_USE_SNOW": False,
    "LSTM_MIXED_PRECISION": "none",
    "LSTM_LOAD": False,
    "LSTM_PRETRAINED_MODEL": None,
    "LSTM_SAVE_MODEL": False,
    "LSTM_SPATIAL_MODE": "lumped",
    "LSTM_TRAIN_THROUGH_ROUTING": False,
    "EARLY_STOPPING_PERIOD": None,
    "OPTIMIZATION_ALGORITHM": "RandomSearch",
    "OPTIMIZATION_METRIC": "KGE",
    "OPTIMIZATION_MAX_ITERATIONS": 20,
    "BASINS": None,
    "STATIC_ATTRIBUTES": [],
    "TARGETS": ["streamflow"],
    "SWE_LOSS_WEIGHT": 1.0,
    "RAY_ADDRESS": None,
    "RAY_NUM_WORKERS": 2,
    "RAY_USE_GPU": False,
    "MLFLOW_TRACKING_URI": None,
    "MLFLOW_EXPERIMENT_NAME": None,
    "SEED": 42,
}


@pytest.fixture
def write_config(tmp_path: Path):
    """Write REQUIRED plus `keys` to exp.yaml in tmp_path and return its path."""

    def write(**keys: Any) -> Path:
        path = tmp_path / "exp.yaml"
        path.write_text(yaml.safe_dump(REQUIRED | keys), encoding="utf-8")
        return path

    return write


def one_line_error(action: Callable[[], object]) -> str:
    """The message of the ConfigError that `action` raises, checked to be one line."""
    with pytest.raises(ConfigError) as raised:
        action()
    message = str(raised.value)
    assert "\n" not in message
    assert "pydantic" not in message
    return message


def config_error(path: Path) -> str:
    """The one-line message of the ConfigError that loading `path` raises."""
    return one_line_error(lambda: load_config(path))


def test_defaults_match_the_documented_ones(write_config):
    config = load_config(write_config())
    assert {key: getattr(config, key) for key in DOCUMENTED_DEFAULTS} == DOCUMENTED_DEFAULTS


def test_tunable_keys_are_the_documented_ones():
    assert TUNABLE_KEYS == (
        "LSTM_HIDDEN_SIZE",
        "LSTM_NUM_LAYERS",
        "LSTM_LOOKBACK",
        "LSTM_DROPOUT",
        "LSTM_EPOCHS",
        "LSTM_BATCH_SIZE",
        "LSTM_LEARNING_RATE",
        "LSTM_LEARNING_RATE_SCHEDULE",
        "LSTM_LEARNING_PATIENCE",
        "LSTM_L2_REGULARIZATION",
        "LSTM_USE_ATTENTION",
        "LSTM_USE_SNOW",
        "LSTM_STATIC_CONDITIONING",
    )


def test_example_full_documents_every_key_with_its_default():
    documented = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    assert set(documented) == set(Config.model_fields)
    example_values = {"STATIC_ATTRIBUTES"}  # the example fills this in for the quickstart store
    for key, default in DOCUMENTED_DEFAULTS.items():
        if key not in example_values:
            assert documented[key] == default, key
    load_config(EXAMPLE)


def test_year_periods_expand_to_whole_calendar_years(write_config):
    calibration = load_config(write_config(CALIBRATION_PERIOD=[2000, 2007])).CALIBRATION_PERIOD
    assert calibration == Period(pd.Timestamp("2000-01-01"), pd.Timestamp("2007-12-31"))
    assert calibration.days == 2922


@pytest.mark.parametrize(
    "written",
    [
        ["2008-01-01", "2009-12-31"],
        [dt.date(2008, 1, 1), dt.date(2009, 12, 31)],
        "2008-01-01, 2009-12-31",
    ],
    ids=["iso-strings", "yaml-dates", "symfluence-string"],
)
def test_iso_and_symfluence_period_forms_parse_alike(write_config, written):
    config = load_config(write_config(VALIDATION_PERIOD=written))
    assert str(config.VALIDATION_PERIOD) == "2008-01-01..2009-12-31"
    assert config.VALIDATION_PERIOD.days == 731


def test_early_stopping_defaults_to_last_quarter_of_calibration(write_config):
    config = load_config(write_config())
    calibration_days = 2922  # 2000..2007, two leap years
    assert config.train_period.days == calibration_days * 3 // 4 == 2191
    assert config.early_stopping_period.days == 731
    assert config.train_period.start == pd.Timestamp("2000-01-01")
    assert config.early_stopping_period.start == config.train_period.end + pd.Timedelta(days=1)
    assert config.early_stopping_period.end == pd.Timestamp("2007-12-31")


def test_explicit_early_stopping_period_is_honoured(write_config):
    path = write_config(CALIBRATION_PERIOD=[2000, 2005], EARLY_STOPPING_PERIOD=[2006, 2007])
    config = load_config(path)
    assert config.train_period == config.CALIBRATION_PERIOD
    assert str(config.early_stopping_period) == "2006-01-01..2007-12-31"


def test_unknown_key_suggests_the_closest_valid_key(write_config):
    path = write_config(LSTM_HIDEN_SIZE=64)
    assert config_error(path) == (
        f"{path}: unknown key 'LSTM_HIDEN_SIZE' (did you mean 'LSTM_HIDDEN_SIZE'?)"
    )


def test_missing_required_key_is_named(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in REQUIRED.items() if k != "DATA_STORE"}))
    assert config_error(path) == f"{path}: missing required key 'DATA_STORE'"


def test_wrong_type_names_the_key_and_the_value(write_config):
    path = write_config(LSTM_HIDDEN_SIZE="abc")
    assert config_error(path) == f"{path}: LSTM_HIDDEN_SIZE: expected an integer, got 'abc'"


@pytest.mark.parametrize(
    ("key", "value"),
    [("LSTM_NUM_LAYERS", 3.7), ("LSTM_USE_ATTENTION", "maybe"), ("LSTM_DROPOUT", True)],
)
def test_values_of_another_type_are_not_coerced(write_config, key, value):
    assert f"{key}: expected" in config_error(write_config(**{key: value}))


def test_out_of_range_value_names_the_key_and_the_bound(write_config):
    message = config_error(write_config(LSTM_DROPOUT=1.0))
    assert "LSTM_DROPOUT: expected a value < 1, got 1.0" in message


def test_mixed_precision_takes_bf16_or_fp16_and_names_the_choices_otherwise(write_config):
    assert load_config(write_config(LSTM_MIXED_PRECISION="bf16")).LSTM_MIXED_PRECISION == "bf16"
    path = write_config(LSTM_MIXED_PRECISION="fp32")
    expected = f"{path}: LSTM_MIXED_PRECISION: expected 'bf16', 'fp16' or 'none', got 'fp32'"
    assert config_error(path) == expected


def test_yaml_integer_is_accepted_for_a_float_key(write_config):
    assert load_config(write_config(LSTM_LEARNING_RATE=1)).LSTM_LEARNING_RATE == 1.0


def test_overlapping_calibration_and_validation_is_an_error(write_config):
    path = write_config(CALIBRATION_PERIOD=[2000, 2010], VALIDATION_PERIOD=[2010, 2012])
    assert config_error(path) == (
        f"{path}: CALIBRATION_PERIOD 2000-01-01..2010-12-31 overlaps "
        "VALIDATION_PERIOD 2010-01-01..2012-12-31"
    )


def test_early_stopping_overlapping_validation_is_an_error(write_config):
    path = write_config(CALIBRATION_PERIOD=[2000, 2005], EARLY_STOPPING_PERIOD=[2006, 2008])
    message = config_error(path)
    assert "EARLY_STOPPING_PERIOD 2006-01-01..2008-12-31 overlaps VALIDATION_PERIOD" in message


def test_early_stopping_overlapping_calibration_is_an_error(write_config):
    path = write_config(EARLY_STOPPING_PERIOD=[2007, 2007])
    message = config_error(path)
    assert "EARLY_STOPPING_PERIOD 2007-01-01..2007-12-31 overlaps CALIBRATION_PERIOD" in message


def test_period_ending_before_it_starts_is_an_error(write_config):
    message = config_error(write_config(VALIDATION_PERIOD=["2009-12-31", "2008-01-01"]))
    assert "VALIDATION_PERIOD: starts 2009-12-31, after its end 2008-01-01" in message


def test_calibration_too_short_to_split_is_an_error(write_config):
    path = write_config(CALIBRATION_PERIOD="2000-01-01, 2000-01-03", LSTM_LOOKBACK=1)
    assert "CALIBRATION_PERIOD 2000-01-01..2000-01-03 is too short" in config_error(path)


def test_repeated_input_names_are_an_error(write_config):
    message = config_error(write_config(DYNAMIC_INPUTS=["prcp", "tmin", "prcp"]))
    assert "DYNAMIC_INPUTS: repeated name(s) 'prcp'" in message


def test_lookback_longer_than_calibration_is_an_error(write_config):
    path = write_config(CALIBRATION_PERIOD=[2006, 2007], LSTM_LOOKBACK=[365, 800])
    message = config_error(path)
    assert "LSTM_LOOKBACK 800 days is longer than CALIBRATION_PERIOD" in message
    assert "(730 days)" in message


def test_supervising_more_days_than_a_window_holds_is_an_error(write_config):
    message = config_error(write_config(LSTM_LOOKBACK=30, LSTM_PREDICT_LAST_N=31))
    assert "LSTM_PREDICT_LAST_N 31 is longer than the window (LSTM_LOOKBACK 30)" in message


def test_list_valued_key_is_a_search_space(write_config):
    config = load_config(write_config(LSTM_HIDDEN_SIZE=[64, 128, 256]))
    assert config.is_search()
    assert config.search_space() == {"LSTM_HIDDEN_SIZE": [64, 128, 256]}
    assert set(config.search_space()) <= set(TUNABLE_KEYS)


def test_training_refuses_a_search_space(write_config):
    path = write_config(LSTM_HIDDEN_SIZE=[64, 128, 256])
    config = load_config(path)
    assert one_line_error(config.validate_for_training) == (
        f"{path}: LSTM_HIDDEN_SIZE is a search space [64, 128, 256]; a training run needs one "
        "value (use 'regional-lstm tune' to search it)"
    )


def test_training_refuses_a_spatial_mode_other_than_lumped(write_config):
    config = load_config(write_config(LSTM_SPATIAL_MODE="distributed"))
    message = one_line_error(config.validate_for_training)
    assert "LSTM_SPATIAL_MODE 'distributed' is not supported yet; only 'lumped' is" in message


def test_training_refuses_training_through_routing(write_config):
    config = load_config(write_config(LSTM_TRAIN_THROUGH_ROUTING=True))
    assert "LSTM_TRAIN_THROUGH_ROUTING" in one_line_error(config.validate_for_training)


def test_with_overrides_fixes_one_point_of_a_search_space(write_config):
    config = load_config(write_config(LSTM_HIDDEN_SIZE=[64, 128]))
    trial = config.with_overrides(LSTM_HIDDEN_SIZE=64)
    assert trial.LSTM_HIDDEN_SIZE == 64
    assert not trial.is_search()
    trial.validate_for_training()


def test_with_overrides_validates_the_new_values(write_config):
    config = load_config(write_config())
    message = one_line_error(lambda: config.with_overrides(LSTM_DROPOUT=2.0))
    assert "LSTM_DROPOUT: expected a value < 1, got 2.0" in message


def test_load_config_overrides_replace_yaml_keys(write_config):
    assert load_config(write_config(), overrides={"LSTM_EPOCHS": 5}).LSTM_EPOCHS == 5


def test_relative_paths_become_absolute_against_the_working_directory(
    write_config, tmp_path, monkeypatch
):
    path = write_config(BASINS="basins.txt", LSTM_PRETRAINED_MODEL="models/best.pt")
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    config = load_config(path)
    keys = ("DATA_STORE", "PROJECT_DIR", "BASINS", "LSTM_PRETRAINED_MODEL")
    assert {key: getattr(config, key) for key in keys} == {
        "DATA_STORE": str(workdir / "store.zarr"),  # a path or a URL, kept as text
        "PROJECT_DIR": workdir / "runs" / "test",
        "BASINS": workdir / "basins.txt",
        "LSTM_PRETRAINED_MODEL": str(workdir / "models" / "best.pt"),
    }


def test_registry_references_to_a_donor_stay_as_written(write_config):
    config = load_config(write_config(LSTM_PRETRAINED_MODEL="models:/ch-lstm@donor"))
    assert config.LSTM_PRETRAINED_MODEL == "models:/ch-lstm@donor"


def test_relative_sqlite_tracking_uri_becomes_absolute(write_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(write_config(MLFLOW_TRACKING_URI="sqlite:///runs/mlflow.db"))
    assert f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}" == config.MLFLOW_TRACKING_URI


def test_missing_file_is_an_error(tmp_path):
    path = tmp_path / "nowhere.yaml"
    assert config_error(path) == f"{path}: no such config file"


def test_file_that_is_not_a_mapping_is_an_error(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("- DOMAIN_NAME\n")
    assert "expected a mapping" in config_error(path)


def test_invalid_yaml_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("DOMAIN_NAME: test\nDYNAMIC_INPUTS: [prcp\n")
    assert f"{path}: not valid YAML at line 3" in config_error(path)


def test_basin_ids_given_as_ints_become_strings_and_quoted_ids_keep_leading_zeros(write_config):
    config = load_config(write_config(BASINS=[1013500, "01022500"]))
    assert config.BASINS == ["1013500", "01022500"]
    assert config.basin_ids() == ["1013500", "01022500"]


def test_basins_file_lists_one_id_per_line(write_config, tmp_path):
    basins_file = tmp_path / "basins.txt"
    basins_file.write_text("01013500\n\n01022500  # a comment\n")
    assert load_config(write_config(BASINS=str(basins_file))).basin_ids() == [
        "01013500",
        "01022500",
    ]


def test_to_yaml_dict_round_trips_through_load_config(write_config, tmp_path):
    config = load_config(
        write_config(BASINS=["01013500"], LSTM_DROPOUT=[0.1, 0.3], EARLY_STOPPING_PERIOD=None)
    )
    written = tmp_path / "round_trip.yaml"
    written.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    assert load_config(written).model_dump() == config.model_dump()


def test_json_schema_describes_every_key():
    assert set(Config.model_json_schema()["properties"]) == set(Config.model_fields)
