"""Object-storage URLs are not supported yet: refused in one line, never taken as a local path."""

from __future__ import annotations

import pytest

from regional_lstm.errors import ConfigError
from tests.conftest import assert_one_line_error, run_cli, tiny_config


@pytest.mark.parametrize(
    "command",
    [
        ["synth", "--out", "s3://bucket/syn.zarr", "--basins", "2", "--years", "1"],
        ["inspect", "s3://bucket/syn.zarr"],
        ["rechunk", "gs://bucket/syn.zarr"],
    ],
)
def test_a_store_url_on_the_command_line_is_an_error_and_writes_nothing(command, tmp_path):
    result = run_cli(*command, cwd=tmp_path)
    assert_one_line_error(result, "object-storage URLs are not supported yet")
    assert list(tmp_path.iterdir()) == []  # no local "s3:" folder


def test_a_store_url_in_the_config_names_the_key(tmp_path):
    with pytest.raises(ConfigError, match="DATA_STORE: object-storage URLs are not supported"):
        tiny_config("s3://bucket/syn.zarr", tmp_path / "project")
