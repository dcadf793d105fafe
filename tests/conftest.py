"""Shared fixtures: the real sample data beside the checkout, and small stores built once."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NH_CAMELS_US = SHARED_DATA / "camels_us_neuralhydrology_testdata" / "camels_us"
RAY_TESTS = "tests/ray/"  # test modules that start the shared local Ray
RAY_FOLDERS = (RAY_TESTS, "tests/reliability/ray/")  # ... all run in the same xdist worker
CLUSTER_TESTS = "tests/cluster/"  # ... and those that bring up a multi-node cluster of their own
# Modules whose tests share a costly module fixture, kept in one worker so it is built once.
ONE_WORKER_MODULES = ("tests/test_experiments.py",)


def pytest_xdist_make_scheduler(config, log):
    """The tests under tests/ray/ run in one xdist worker, in order, those under tests/cluster/
    in another, in order; the rest are spread over whichever worker is free.

    One shared Ray per session (a second local Ray started beside it makes the State API
    fail), and each Ray test module trains its models once in a module fixture. The cluster
    tests run Ray processes of their own (head, nodes, a local `train`), beside the shared Ray
    but never on it. xdist hands out the largest scopes first, one per worker: these two.
    Modules of ONE_WORKER_MODULES stay in one worker too, so their module fixture is built once.
    """
    from xdist.scheduler import LoadScopeScheduling

    class RayInOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(RAY_FOLDERS):
                return RAY_TESTS
            if nodeid.startswith(CLUSTER_TESTS):
                return CLUSTER_TESTS
            if nodeid.startswith(ONE_WORKER_MODULES):
                return nodeid.split("::", 1)[0]
            return nodeid

    return RayInOneWorker(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the shared Ray outside tests/ray/ would start a second Ray in the other worker."""
    stray = [
        item.nodeid
        for item in items
        if "ray_cluster" in getattr(item, "fixturenames", ())
        and not item.nodeid.startswith(RAY_FOLDERS)
    ]
    if stray:
        where = " or ".join(RAY_FOLDERS)
        raise pytest.UsageError(f"tests on Ray belong under {where}: {stray[0]}")


@pytest.fixture(autouse=True, scope="session")
def single_torch_thread():
    """Tests train tiny models: one thread each, as Ray workers run, and no oversubscription."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip only when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def camels_us_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the 4-basin CAMELS-US tree (1.8 MB) to corrupt in bad-input tests."""
    return Path(shutil.copytree(NH_CAMELS_US, tmp_path / "camels_us"))


def write_basin_list(path: Path, basins: list[str]) -> Path:
    """Write a basin list file, one id per line."""
    path.write_text("\n".join(basins) + "\n")
    return path


def shared_dataset(name: str) -> Path:
    """A real dataset in ``../shared/data``, or skip the test where that folder is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} not found (real-data tests need ../shared/data)")
    return path


def ingest_error(kind: str, source: Path, basins: list[str] | None = None, **options) -> str:
    """The IngestError that ingesting ``source`` raises: one line, no store or staging left.

    The store and the basin list written for ``basins`` would go beside ``source``.
    """
    from regional_lstm.data.ingest import ingest
    from regional_lstm.errors import IngestError

    out = source.parent / "store.zarr"
    if basins:
        options["basins_file"] = write_basin_list(source.parent / "basins.txt", basins)
    with pytest.raises(IngestError) as caught:
        ingest(kind, source, out, **options)
    message = str(caught.value)
    assert "\n" not in message
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")] == []
    return message


def edit_line(file: Path, line_number: int, edit: Callable[[str], str]) -> None:
    """Rewrite one line (from 1) of a text file; latin-1 keeps every other byte as it was."""
    lines = file.read_text(encoding="latin-1").splitlines(keepends=True)
    lines[line_number - 1] = edit(lines[line_number - 1])
    file.write_text("".join(lines), encoding="latin-1")


def replace_line(file: Path, line_number: int, old: str, new: str) -> None:
    """Replace the first ``old`` on one line (from 1) of a text file; ``old`` must be there."""

    def replace(line: str) -> str:
        assert old in line
        return line.replace(old, new, 1)

    edit_line(file, line_number, replace)


def drop_lines(file: Path, prefix: str) -> None:
    """Remove the lines of a text file that start with ``prefix`` (a basin's table row)."""
    lines = file.read_text(encoding="latin-1").splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(prefix)]
    file.write_text("".join(kept), encoding="latin-1")


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A real S3-compatible server (moto) on 127.0.0.1 for the session, its endpoint and test
    credentials in this process's environment (and so in the subprocesses tests start)."""
    import os

    from tests.servers import s3_server

    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        saved = {k: os.environ.get(k) for k in server.env}
        os.environ.update(server.env)
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """A real `mlflow server` (sqlite backend, artifact folder) for the session: (uri, folder)."""
    from tests.servers import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as served:
        yield served


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """A synthetic store of 6 basins x 4 years with streamflow gaps, built once per session."""
    from regional_lstm.data.synth import synthesize

    return synthesize(
        tmp_path_factory.mktemp("tiny") / "store.zarr", basins=6, years=4, seed=1, gap_fraction=0.05
    )


def edited_store(source, path: Path, edit) -> Path:
    """A new store at ``path``: ``source`` loaded, changed by ``edit(dataset) -> dataset``, and
    written afresh (the source's chunk encodings dropped, so any edit can be written)."""
    import xarray as xr

    ds = xr.open_zarr(source).load()
    for variable in ds.variables.values():
        variable.encoding = {}
    edit(ds).to_zarr(path, consolidated=True)
    return path


@pytest.fixture(scope="session")
def forcings(tiny_store, tmp_path_factory) -> Path:
    """The tiny store without observations (no streamflow, no swe): an operational store with
    no gauge readings."""

    def drop(ds):
        return ds.drop_vars(["streamflow", "swe"], errors="ignore")

    return edited_store(tiny_store, tmp_path_factory.mktemp("forcings") / "forcings.zarr", drop)


def tiny_config(store: Path, project: Path, **overrides):
    """A small, fast training config over ``tiny_store`` (1990-1993)."""
    from regional_lstm.config import Config

    values = {
        "DOMAIN_NAME": "tiny",
        "DATA_STORE": str(store),
        "PROJECT_DIR": str(project),
        "DYNAMIC_INPUTS": ["prcp", "tmin", "tmax", "pet"],
        "STATIC_ATTRIBUTES": ["area", "aridity", "elev_mean"],
        "CALIBRATION_PERIOD": [1990, 1992],
        "VALIDATION_PERIOD": [1993, 1993],
        "LSTM_HIDDEN_SIZE": 16,
        "LSTM_NUM_LAYERS": 1,
        "LSTM_LOOKBACK": 60,
        "LSTM_DROPOUT": 0.0,
        "LSTM_USE_ATTENTION": False,
        "LSTM_EPOCHS": 4,
        "LSTM_BATCH_SIZE": 64,
        "LSTM_LEARNING_RATE": 0.01,
        "LSTM_SAMPLES_PER_EPOCH": 1024,
        "RAY_NUM_WORKERS": 1,
        "SEED": 3,
    }
    return Config.from_mapping(values | overrides, source="tiny.yaml")


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray for the whole test session (2 CPUs), started as the CLI starts it.

    With its dashboard, as `tune` starts it: Tune needs the State API it serves.
    """
    from regional_lstm.distributed.cluster import ray_session

    with ray_session(None, num_cpus=2, dashboard=True):
        yield


# The tiny config trained on the session Ray, each once per session (`trained`).
TRAINED = {
    "1-worker-concat": {"RAY_NUM_WORKERS": 1},
    "2-workers-ealstm-attention": {
        "RAY_NUM_WORKERS": 2,
        "LSTM_STATIC_CONDITIONING": "ealstm",
        "LSTM_USE_ATTENTION": True,
    },
}


@pytest.fixture(scope="session", params=list(TRAINED))
def trained(request, ray_cluster, tiny_store, tmp_path_factory):
    """(config, outcome, log lines) of `train` on one and on two workers, shared by the
    training tests (tests/ray/) and the same-seed tests (tests/reliability/ray/)."""
    from regional_lstm.workflows.train import train

    project = tmp_path_factory.mktemp(request.param)
    config = tiny_config(tiny_store, project, **TRAINED[request.param])
    with log_lines() as lines:
        outcome = train(config)
    return config, outcome, lines


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        from regional_lstm.logs import PlainFormatter

        super().__init__(logging.INFO)
        self.lines = lines
        self.setFormatter(PlainFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def log_lines() -> Iterator[list[str]]:
    """The toolkit's log lines while the block runs, as the CLI prints them ("warning: ...").

    For fixtures wider than one test, where pytest's caplog cannot go.
    """
    logger = logging.getLogger("regional_lstm")
    lines: list[str] = []
    handler, level = _Lines(lines), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def train_in_process(config) -> Path:
    """Train ``config`` with the plain PyTorch loop (no Ray) and save its best model.

    For tests that need a trained model but are not about Ray: the same ``fit`` the Ray
    workers run, one process, the model saved where `train` would put it.
    """
    from regional_lstm.artifacts import ModelCard, save_model
    from regional_lstm.pipeline.layout import BEST_MODEL
    from regional_lstm.pipeline.planning import make_plan
    from regional_lstm.training.checkpoint import read_checkpoint
    from regional_lstm.training.fit import WorkerContext, fit

    plan = make_plan(config)
    kept: dict[str, object] = {}

    def report(metrics, folder):
        if folder is not None:
            kept["best"] = read_checkpoint(folder)[1]

    state = fit(plan, WorkerContext(report=report))
    card = ModelCard(
        plan.model,
        plan.data,
        plan.norm,
        plan.basins,
        config.to_yaml_dict(),
        {"epoch": state["epoch"]},
    )
    return save_model(config.PROJECT_DIR / BEST_MODEL, kept["best"], card)


def model_input(store, card, basins, period=None):
    """A long table (basin, date, inputs, attributes) from ``store``: what a pyfunc is fed."""
    import pandas as pd

    from regional_lstm.data.reader import StoreReader

    reader = StoreReader(store)
    times = slice(0, len(reader.time))
    if period is not None:
        times = reader.time_slice(period.start, period.end)
    dynamic = reader.read_dynamic(basins, list(card.data.dynamic), times)
    static = reader.read_static(basins, list(card.data.static))
    parts = []
    for i, basin in enumerate(basins):
        frame = pd.DataFrame(dynamic[i], columns=list(card.data.dynamic))
        frame.insert(0, "date", reader.time[times])
        frame.insert(0, "basin", basin)
        for k, name in enumerate(card.data.static):
            frame[name] = static[i, k]
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


ROOT = Path(__file__).resolve().parents[1]


# Commands that never start Ray, run by `run_cli` in the test's own process.
IN_PROCESS = {
    "check",
    "compare",
    "export",
    "ingest",
    "inspect",
    "predict",
    "rechunk",
    "registry",
    "summarize",
    "synth",
}


def run_cli(*args: str, cwd: Path = ROOT, isolated: bool = False) -> subprocess.CompletedProcess:
    """`regional-lstm ARGS` from ``cwd``: its exit code, stdout and stderr.

    A command in `IN_PROCESS` runs `cli.main` in this process (no interpreter start and imports,
    ~2-5 s of CPU a call); the others, and any call with ``isolated``, in a subprocess. Output
    that a library's logging handler sends to the stream it held at import (MLflow's) is only
    seen in a subprocess: tests of such output pass ``isolated=True``.
    """
    args = tuple(map(str, args))
    if not isolated and args and args[0] in IN_PROCESS:
        return _run_in_process(args, cwd)
    return subprocess.run(
        [sys.executable, "-m", "regional_lstm", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _ray_running() -> bool:
    """Whether this process has a Ray session (the session's own, in the Ray tests' worker)."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def _run_in_process(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess:
    """`cli.main` with this process's argv, cwd, streams, environment, logging, warnings filters
    and torch threads swapped for the call's, and given back after it."""
    import contextlib
    import io
    import os
    import traceback
    import warnings

    import torch

    from regional_lstm import cli

    out, err = io.StringIO(), io.StringIO()
    known = logging.root.manager.loggerDict.values()  # placeholders aside: not loggers yet
    saved_loggers = [
        (logger, logger.level, logger.propagate, list(logger.handlers), list(logger.filters))
        for logger in [logging.getLogger(), *known]
        if isinstance(logger, logging.Logger)
    ]
    saved_env, saved_argv, threads = dict(os.environ), sys.argv, torch.get_num_threads()
    ray_before = _ray_running()
    code = 0
    with (
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        sys.argv = ["regional-lstm", *args]
        try:
            cli.main()
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        except BaseException:  # what the interpreter would print, and its exit status
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved_argv
            os.environ.clear()
            os.environ.update(saved_env)
            torch.set_num_threads(threads)
            for logger, level, propagate, handlers, filters in saved_loggers:
                logger.setLevel(level)
                logger.propagate = propagate
                logger.handlers[:], logger.filters[:] = handlers, filters
    assert _ray_running() == ray_before, f"`{args[0]}` started or stopped Ray: not IN_PROCESS"
    return subprocess.CompletedProcess(
        ["regional-lstm", *args], code, out.getvalue(), err.getvalue()
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
