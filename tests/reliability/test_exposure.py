"""No credential is shown, logged or recorded, and the documented servers listen on 127.0.0.1."""

from __future__ import annotations

import logging
import re

import yaml

from regional_lstm.logs import configure
from regional_lstm.tracking.runs import config_params
from tests.conftest import ROOT, assert_one_line_error, run_cli, tiny_config

SECRET = "s3cr3t-Pa55"
SERVER_COMMAND = re.compile(r"\b(?:mlflow (?:server|ui|models serve)|ray start --head)\b[^`\n]*")


def _config_with_secrets(tiny_store, tmp_path):
    return tiny_config(
        tiny_store,
        tmp_path / "project",
        MLFLOW_TRACKING_URI=f"http://analyst:{SECRET}@127.0.0.1:9",
        STORAGE_OPTIONS={"key": "AKIA-ID", "secret": SECRET, "client_kwargs": {"token": SECRET}},
    )


def test_check_prints_the_config_without_its_secrets(tiny_store, tmp_path):
    config = _config_with_secrets(tiny_store, tmp_path)
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict(redacted=False)), encoding="utf-8")
    result = run_cli("check", path)
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "http://analyst:<redacted>@127.0.0.1:9" in result.stdout


def test_mlflow_params_hold_no_secret(tiny_store, tmp_path):
    params = config_params(_config_with_secrets(tiny_store, tmp_path))
    assert not [key for key, value in params.items() if SECRET in value]
    assert params["MLFLOW_TRACKING_URI"] == "http://analyst:<redacted>@127.0.0.1:9"


def test_an_unreachable_server_is_named_without_its_password(tiny_store, tmp_path):
    config = _config_with_secrets(tiny_store, tmp_path)
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict(redacted=False)), encoding="utf-8")
    result = run_cli("train", path)
    assert_one_line_error(result, "MLflow tracking server", "cannot be reached")
    assert SECRET not in result.stdout + result.stderr


def test_log_lines_redact_url_passwords(capsys):
    configure()
    logging.getLogger("regional_lstm.test").info("MLflow run 1 in %s", f"http://a:{SECRET}@host")
    out = capsys.readouterr().out
    assert SECRET not in out and "http://a:<redacted>@host" in out


def test_documented_servers_listen_on_the_loopback_unless_the_user_opens_them():
    documents = [ROOT / "README.md", ROOT / "cluster.yaml", *(ROOT / "cluster").glob("*.yaml")]
    found = [m.group(0) for doc in documents for m in SERVER_COMMAND.finditer(doc.read_text())]
    commands = [command for command in found if " --" in command]  # not the prose's mentions
    assert len(commands) >= 4, commands  # mlflow server, mlflow ui, models serve, ray heads
    for command in commands:
        assert re.search(r"--(?:dashboard-)?host[= ]127\.0\.0\.1", command) or (
            command.startswith("mlflow ui") and "--host" not in command
        ), command  # `mlflow ui` binds 127.0.0.1 by default
