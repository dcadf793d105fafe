"""Comparing tracked runs: a leaderboard of runs, and a per-basin table of two runs."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.tracking.store import using_store

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
MIN_PREFIX = 6
NAN = float("nan")


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
    kind_filter = f"tags.`{KIND_TAG}` = '{kind}'" if kind is not None else ""
    with using_store(uri):
        names = _experiment_names(uri, experiment)
        runs = _search_runs(list(names), kind_filter)
    table = _leaderboard(runs[runs["status"].isin(LISTED_STATUSES)], names)
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
    first, second = _resolve(uri, run_a), _resolve(uri, run_b)
    if first.info.run_id == second.info.run_id:
        raise RegionalLSTMError(f"{run_a} and {run_b} are the same run: name two different runs")
    label_a, label_b = _labels(first, second)
    scores_a = _basin_scores(uri, first).add_suffix(f"_{label_a}")
    table = scores_a.join(_basin_scores(uri, second).add_suffix(f"_{label_b}"), how="outer")
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


def _experiment_names(uri: str, experiment: str | None) -> dict[str, str]:
    """Experiment ids to names: the one named, or every active experiment."""
    experiments = mlflow.search_experiments()
    if experiment is None:
        return {e.experiment_id: e.name for e in experiments}
    for e in experiments:
        if e.name == experiment:
            return {e.experiment_id: e.name}
    existing = ", ".join(sorted(e.name for e in experiments)) or "none"
    raise RegionalLSTMError(f"no experiment {experiment!r} in {uri} (existing: {existing})")


def _search_runs(experiment_ids: list[str], filter_string: str) -> pd.DataFrame:
    """search_runs' frame of the experiments' active runs, newest first (MLflow pages)."""
    if not experiment_ids:  # MLflow would read an empty list as "the active experiment"
        return pd.DataFrame(columns=["run_id", "experiment_id", "status", "start_time", "end_time"])
    return mlflow.search_runs(
        experiment_ids,
        filter_string=filter_string,
        order_by=["attributes.start_time DESC"],
        output_format="pandas",
    )


def _leaderboard(runs: pd.DataFrame, experiment_names: dict[str, str]) -> pd.DataFrame:
    """RUN_COLUMNS from search_runs' frame; a param, tag or metric no run logged is empty."""

    def text(name: str) -> pd.Series:
        return runs[name].fillna("") if name in runs else pd.Series("", index=runs.index)

    def numbers(name: str) -> pd.Series:
        return runs[name].astype(float) if name in runs else pd.Series(NAN, index=runs.index)

    # MLflow keeps times in milliseconds; a run still going ends now.
    start = pd.to_datetime(runs["start_time"], utc=True).dt.as_unit("ms")
    end = pd.to_datetime(runs["end_time"], utc=True).dt.as_unit("ms")
    end = end.fillna(pd.Timestamp.now(tz="UTC").as_unit("ms"))
    return pd.DataFrame(
        {
            "run": text("tags.mlflow.runName"),
            "run_id": runs["run_id"],
            "experiment": runs["experiment_id"].map(experiment_names),
            "kind": text(f"tags.{KIND_TAG}"),
            "status": runs["status"],
            **{name: text(f"params.{key}") for name, key in HYPERPARAMETERS.items()},
            **{f"{k}_median": numbers(f"metrics.{v}") for k, v in MEDIAN_METRICS.items()},
            "basins": numbers("metrics.n_basins").astype("Int64"),
            "duration_min": ((end - start) / pd.Timedelta(minutes=1)).round(1),
            "start": start.map(lambda t: t.isoformat(timespec="seconds")),
        },
        columns=RUN_COLUMNS,
    )


def _resolve(uri: str, run_id: str) -> Run:
    """The run whose id is or starts with ``run_id``, in any experiment."""
    if not re.fullmatch(f"[0-9a-fA-F]{{{MIN_PREFIX},32}}", run_id):
        raise RegionalLSTMError(
            f"{run_id!r} is not a run id: give the id or its first {MIN_PREFIX}+ characters"
        )
    with using_store(uri):
        matches = mlflow.search_runs(
            filter_string=f"attributes.run_id LIKE '{run_id.lower()}%'",
            search_all_experiments=True,
            output_format="list",
        )
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


def _basin_scores(uri: str, run: Run) -> pd.DataFrame:
    """NSE and KGE per basin from the run's ``results/metrics.csv``, indexed by basin id."""
    label = f"{run.info.run_name} ({run.info.run_id})"
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id,
                artifact_path="results/metrics.csv",
                dst_path=folder,
                tracking_uri=uri,
            )
        except MlflowException:
            raise RegionalLSTMError(f"run {label} has no results/metrics.csv") from None
        # Basin ids are text: CAMELS gauge ids keep their leading zeros.
        scores = pd.read_csv(Path(path), dtype={"basin": str})
    missing = [name for name in ("basin", *BASIN_METRICS) if name not in scores.columns]
    if missing:
        raise RegionalLSTMError(f"results/metrics.csv of run {label} lacks columns {missing}")
    return scores.set_index("basin")[list(BASIN_METRICS)]
