"""Comparing tracked runs: a leaderboard of runs, and a per-basin table of two runs."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Experiment, Run
from mlflow.exceptions import MlflowException

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.tracking.store import client_for

KIND_TAG = "regional_lstm.kind"
MEDIAN_METRICS = {"KGE": "kge_median", "NSE": "nse_median"}
HYPERPARAMETERS = {
    "hidden": "LSTM_HIDDEN_SIZE",
    "layers": "LSTM_NUM_LAYERS",
    "lookback": "LSTM_LOOKBACK",
    "dropout": "LSTM_DROPOUT",
    "lr": "LSTM_LEARNING_RATE",
    "batch": "LSTM_BATCH_SIZE",
    "conditioning": "LSTM_STATIC_CONDITIONING",
    "attention": "LSTM_USE_ATTENTION",
}
RUN_COLUMNS = [
    "run",
    "run_id",
    "experiment",
    "kind",
    "status",
    *HYPERPARAMETERS,
    "NSE_median",
    "KGE_median",
    "basins",
    "duration_min",
    "start",
]
LISTED_STATUSES = {"FINISHED", "RUNNING"}  # failed and killed runs have no results to rank
BASIN_METRICS = ("NSE", "KGE")
PAGE_SIZE = 1000
MIN_PREFIX = 6


def compare_runs(
    uri: str,
    *,
    experiment: str | None = None,
    metric: str = "KGE",
    top: int | None = None,
    kind: str | None = "train",
) -> pd.DataFrame:
    """One row per finished (or still running) run, best median ``metric`` first.

    ``experiment=None`` searches every experiment; ``kind=None`` keeps runs of every kind.
    Runs without the metric come last. Hyperparameters are the logged param strings.
    """
    ranked_by = _median_column(metric)
    client = client_for(uri)
    names = _experiment_names(client, uri, experiment)
    kind_filter = f"tags.`{KIND_TAG}` = '{kind}'" if kind is not None else ""
    rows = [
        _run_row(run, names)
        for run in _search(client, list(names), kind_filter)
        if run.info.status in LISTED_STATUSES
    ]
    table = pd.DataFrame(rows, columns=RUN_COLUMNS).astype({"basins": "Int64"})
    table = table.sort_values(ranked_by, ascending=False, na_position="last", kind="stable")
    if top is not None:
        table = table.head(top)
    return table.reset_index(drop=True)


def compare_basins(uri: str, run_a: str, run_b: str) -> pd.DataFrame:
    """Per-basin NSE and KGE of two runs side by side, with deltas ``b - a``.

    Run ids may be unique prefixes (at least 6 characters). Columns are labelled by run name
    when the names differ, else by the first 8 characters of the run ids; a basin scored by
    only one run has NaN for the other.
    """
    client = client_for(uri)
    first, second = _resolve(client, uri, run_a), _resolve(client, uri, run_b)
    if first.info.run_id == second.info.run_id:
        raise RegionalLSTMError(f"{run_a} and {run_b} are the same run: name two different runs")
    label_a, label_b = _labels(first, second)
    scores_a = _basin_scores(client, first).add_suffix(f"_{label_a}")
    table = scores_a.join(_basin_scores(client, second).add_suffix(f"_{label_b}"), how="outer")
    columns = []
    for name in BASIN_METRICS:
        a, b = f"{name}_{label_a}", f"{name}_{label_b}"
        table[f"d{name}"] = table[b] - table[a]
        columns += [a, b, f"d{name}"]
    return table[columns].sort_index().reset_index()


def _median_column(metric: str) -> str:
    """The summary column a metric name ranks by (KGE -> KGE_median), case-insensitive."""
    key = metric.upper()
    if key not in MEDIAN_METRICS:
        raise RegionalLSTMError(
            f"unknown metric {metric!r}: choose one of {', '.join(MEDIAN_METRICS)}"
        )
    return f"{key}_median"


def _experiment_names(client: MlflowClient, uri: str, experiment: str | None) -> dict[str, str]:
    """Experiment ids to names: the one named, or every active experiment."""
    experiments = _all_experiments(client)
    if experiment is None:
        return {e.experiment_id: e.name for e in experiments}
    for e in experiments:
        if e.name == experiment:
            return {e.experiment_id: e.name}
    existing = ", ".join(sorted(e.name for e in experiments)) or "none"
    raise RegionalLSTMError(f"no experiment {experiment!r} in {uri} (existing: {existing})")


def _all_experiments(client: MlflowClient) -> list[Experiment]:
    """Every active experiment, page by page."""
    experiments, token = [], None
    while True:
        page = client.search_experiments(max_results=PAGE_SIZE, page_token=token)
        experiments += page
        token = page.token
        if not token:
            return experiments


def _search(client: MlflowClient, experiment_ids: list[str], filter_string: str) -> Iterator[Run]:
    """Every active run of the experiments matching ``filter_string``, page by page."""
    if not experiment_ids:
        return
    token = None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            max_results=PAGE_SIZE,
            order_by=["attributes.start_time DESC"],
            page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _run_row(run: Run, experiment_names: dict[str, str]) -> dict[str, object]:
    """The leaderboard row of one run."""
    info, params, metrics = run.info, run.data.params, run.data.metrics
    basins = metrics.get("n_basins")
    return {
        "run": info.run_name,
        "run_id": info.run_id,
        "experiment": experiment_names[info.experiment_id],
        "kind": run.data.tags.get(KIND_TAG, ""),
        "status": info.status,
        **{column: params.get(key, "") for column, key in HYPERPARAMETERS.items()},
        **{f"{k}_median": metrics.get(v, float("nan")) for k, v in MEDIAN_METRICS.items()},
        "basins": None if basins is None else int(basins),
        "duration_min": _duration_min(info.start_time, info.end_time),
        "start": datetime.fromtimestamp(info.start_time / 1000, UTC).isoformat(timespec="seconds"),
    }


def _duration_min(start_ms: int, end_ms: int | None) -> float:
    """Minutes from start to end, or to now for a run still going, to one decimal."""
    end_ms = end_ms if end_ms else int(time.time() * 1000)
    return round((end_ms - start_ms) / 60_000, 1)


def _resolve(client: MlflowClient, uri: str, run_id: str) -> Run:
    """The run whose id is or starts with ``run_id``."""
    if not re.fullmatch(f"[0-9a-fA-F]{{{MIN_PREFIX},32}}", run_id):
        raise RegionalLSTMError(
            f"{run_id!r} is not a run id: give the id or its first {MIN_PREFIX}+ characters"
        )
    experiment_ids = [e.experiment_id for e in _all_experiments(client)]
    matches = list(_search(client, experiment_ids, f"attributes.run_id LIKE '{run_id.lower()}%'"))
    if not matches:
        raise RegionalLSTMError(f"no run {run_id!r} in {uri}")
    if len(matches) > 1:
        ids = ", ".join(sorted(m.info.run_id for m in matches))
        raise RegionalLSTMError(f"run id prefix {run_id!r} is ambiguous: it matches {ids}")
    return matches[0]


def _labels(first: Run, second: Run) -> tuple[str, str]:
    """Short column labels: run names if they differ, else the first 8 characters of the ids."""
    names = first.info.run_name, second.info.run_name
    if all(names) and names[0] != names[1]:
        return names
    ids = first.info.run_id, second.info.run_id
    return (ids[0][:8], ids[1][:8]) if ids[0][:8] != ids[1][:8] else ids


def _basin_scores(client: MlflowClient, run: Run) -> pd.DataFrame:
    """NSE and KGE per basin from the run's ``results/metrics.csv``, indexed by basin id."""
    label = f"{run.info.run_name} ({run.info.run_id})"
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(run.info.run_id, "results/metrics.csv", folder)
        except MlflowException:
            raise RegionalLSTMError(f"run {label} has no results/metrics.csv") from None
        # Basin ids are text: CAMELS gauge ids keep their leading zeros.
        scores = pd.read_csv(Path(path), dtype={"basin": str})
    missing = [name for name in ("basin", *BASIN_METRICS) if name not in scores.columns]
    if missing:
        raise RegionalLSTMError(f"results/metrics.csv of run {label} lacks columns {missing}")
    return scores.set_index("basin")[list(BASIN_METRICS)]
