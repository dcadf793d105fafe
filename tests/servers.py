"""Servers a team runs, started for real on 127.0.0.1: an S3-compatible store (moto's standalone
server) and an `mlflow server`. Each runs in its own process and logs its requests to a file."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) (/[^ ?]*)[^"]*" (\d{3})')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _serving(
    command: list[str], health: str, log_path: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Start ``command``, wait until ``health`` answers 200, stop it at the end."""
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(health, timeout=1) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


@dataclass(frozen=True)
class S3Server:
    """moto's S3 on 127.0.0.1: ``env`` is what a client needs (endpoint, test credentials)."""

    endpoint: str
    log: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def new_bucket(self) -> str:
        """A fresh, empty bucket's name."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass
        return name

    def requests(self, bucket: str) -> list[tuple[str, str]]:
        """(method, key) of every successful request on ``bucket`` so far, in order."""
        found = []
        for method, path, status in REQUEST.findall(self.log.read_text(errors="replace")):
            head, _, key = path.lstrip("/").partition("/")
            if head == bucket and status.startswith("2"):
                found.append((method, key))
        return found


@contextmanager
def s3_server(folder: Path) -> Iterator[S3Server]:
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    endpoint = f"http://127.0.0.1:{port}"
    log = folder / "moto.log"
    with _serving(command, f"{endpoint}/moto-api/", log):
        yield S3Server(endpoint, log)


@contextmanager
def mlflow_server(folder: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` (sqlite backend, artifact folder): its URI and artifact folder."""
    with mlflow_server_process(folder) as (uri, artifacts, _):
        yield uri, artifacts


@contextmanager
def mlflow_server_process(folder: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """`mlflow_server`, and its process too, for tests that take the server away."""
    port = free_port()
    artifacts = folder / "artifacts"
    command = [
        *(sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)),
        *("--backend-store-uri", f"sqlite:///{folder / 'server.db'}"),
        *("--artifacts-destination", str(artifacts), "--workers", "1"),
    ]
    uri = f"http://127.0.0.1:{port}"
    # Without the server's job runners (MLflow 3's GenAI evaluation jobs, unused here): five
    # more Python processes otherwise start beside it and poll.
    env = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with _serving(command, f"{uri}/health", folder / "server.log", env=env) as process:
        yield uri, artifacts, process


@contextmanager
def model_server(model_uri: str, tracking_uri: str, folder: Path) -> Iterator[str]:
    """`mlflow models serve` of ``model_uri`` in this environment: its base URL."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri),
        *("--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)),
        *("--workers", "1"),
    ]
    url = f"http://127.0.0.1:{port}"
    # MLflow execs `uvicorn` by name: this environment's, also when it is not activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = os.environ | {"MLFLOW_TRACKING_URI": tracking_uri, "PATH": path}
    with _serving(command, f"{url}/ping", folder / "serve.log", env=env):
        yield url
