"""Comparing runs in a real sqlite MLflow store: the leaderboard, the per-basin table, the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from regional_lstm.errors import RegionalLSTMError
from regional_lstm.tracking import compare
from regional_lstm.tracking.compare import compare_basins, compare_runs
from regional_lstm.tracking.store import client_for, ensure_experiment
from tests.conftest import ROOT, run_cli

START_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z
MINUTE_MS = 60_000


def add_run(
    client: MlflowClient,
    experiment_id: str,
    name: str,
    *,
    kind: str = "train",
    params: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    minutes: float | None = 10,
    status: str = "FINISHED",
    scores: pd.DataFrame | None = None,
    folder: Path | None = None,
) -> str:
    """A run as start_run/log_results leave it; ``minutes=None`` leaves it running."""
    run = client.create_run(
        experiment_id, start_time=START_MS, tags={"regional_lstm.kind": kind}, run_name=name
    )
    run_id = run.info.run_id
    for key, value in (params or {}).items():
        client.log_param(run_id, key, value)
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, key, value)
    if scores is not None:
        path = folder / name / "metrics.csv"
        path.parent.mkdir(parents=True)
        scores.to_csv(path, index_label="basin")
        client.log_artifact(run_id, str(path), artifact_path="results")
    if minutes is not None:
        client.set_terminated(run_id, status, end_time=START_MS + int(minutes * MINUTE_MS))
    return run_id


def hyperparameters(hidden: int, lr: float) -> dict[str, str]:
    return {
        "LSTM_HIDDEN_SIZE": str(hidden),
        "LSTM_NUM_LAYERS": "1",
        "LSTM_LOOKBACK": "365",
        "LSTM_DROPOUT": "0.2",
        "LSTM_LEARNING_RATE": str(lr),
        "LSTM_BATCH_SIZE": "256",
        "LSTM_STATIC_CONDITIONING": "concat",
        "LSTM_USE_ATTENTION": "false",
    }


def scores(nse: dict[str, float], kge: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"NSE": nse, "KGE": kge, "RMSE": dict.fromkeys(nse, 1.0)})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """Two experiments: three train runs, an evaluate run, a failed and a running run."""
    root = tmp_path_factory.mktemp("compare")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = client_for(uri)
    camels = ensure_experiment(client, "camels", root / "mlartifacts")
    alps = ensure_experiment(client, "alps", root / "mlartifacts")
    summary = {"n_basins": 3, "n_nse_negative": 0}
    ids = {
        "small": add_run(
            client,
            camels,
            "small",
            params=hyperparameters(64, 0.001),
            metrics={"kge_median": 0.61, "nse_median": 0.70, **summary},
            minutes=12.34,
            scores=scores(
                {"01013500": 0.5, "01022500": 0.7, "02000000": 0.1},
                {"01013500": 0.4, "01022500": 0.6, "02000000": 0.2},
            ),
            folder=root,
        ),
        "large": add_run(
            client,
            camels,
            "large",
            params=hyperparameters(256, 0.0005),
            metrics={"kge_median": 0.75, "nse_median": 0.66, **summary},
            scores=scores(
                {"01013500": 0.6, "01022500": 0.65, "03000000": 0.9},
                {"01013500": 0.3, "01022500": 0.8, "03000000": 0.85},
            ),
            folder=root,
        ),
        "medium": add_run(
            client,
            camels,
            "medium",
            params=hyperparameters(128, 0.001),
            metrics={"kge_median": 0.68, "nse_median": 0.72, **summary},
        ),
        "evaluation": add_run(
            client, camels, "evaluation", kind="evaluate", metrics={"kge_median": 0.9}
        ),
        "crashed": add_run(client, camels, "crashed", minutes=1, status="FAILED"),
        "alpine": add_run(client, alps, "alpine", metrics={"kge_median": 0.5}, minutes=None),
    }
    return uri, ids


def test_train_runs_come_back_best_median_kge_first(store):
    uri, _ = store
    table = compare_runs(uri, experiment="camels")
    assert table["run"].tolist() == ["large", "medium", "small"]
    assert table["KGE_median"].tolist() == [0.75, 0.68, 0.61]


def test_top_keeps_the_first_runs(store):
    uri, _ = store
    assert compare_runs(uri, experiment="camels", top=2)["run"].tolist() == ["large", "medium"]


def test_metric_nse_ranks_by_median_nse_whatever_its_case(store):
    uri, _ = store
    table = compare_runs(uri, experiment="camels", metric="nse")
    assert table["run"].tolist() == ["medium", "small", "large"]


def test_runs_of_other_kinds_are_left_out_unless_kind_is_none(store):
    uri, _ = store
    assert "evaluation" not in compare_runs(uri)["run"].tolist()
    every_kind = compare_runs(uri, experiment="camels", kind=None)
    assert every_kind["run"].iloc[0] == "evaluation"
    assert every_kind.set_index("run").loc["evaluation", "kind"] == "evaluate"


def test_failed_runs_are_left_out(store):
    uri, _ = store
    assert "crashed" not in compare_runs(uri, kind=None)["run"].tolist()


def test_columns_carry_hyperparameters_scores_and_basins(store):
    uri, ids = store
    table = compare_runs(uri, experiment="camels")
    assert table.columns.tolist() == compare.RUN_COLUMNS
    small = table.set_index("run").loc["small"]
    assert small["run_id"] == ids["small"]
    assert small["experiment"] == "camels"
    assert (small["hidden"], small["lr"], small["attention"]) == ("64", "0.001", "false")
    assert (small["NSE_median"], small["KGE_median"], small["basins"]) == (0.70, 0.61, 3)
    assert small["start"] == "2024-05-01T12:00:00+00:00"


def test_missing_hyperparameters_and_scores_are_empty(store):
    uri, _ = store
    alpine = compare_runs(uri, experiment="alps").iloc[0]
    assert alpine["hidden"] == "" and alpine["conditioning"] == ""
    assert pd.isna(alpine["NSE_median"]) and pd.isna(alpine["basins"])


def test_runs_without_the_metric_come_last(store):
    uri, _ = store
    table = compare_runs(uri, metric="NSE")
    assert table["run"].tolist()[-1] == "alpine"


def test_duration_is_end_minus_start_in_minutes(store):
    uri, _ = store
    durations = compare_runs(uri, experiment="camels").set_index("run")["duration_min"]
    assert durations["small"] == 12.3
    assert durations["large"] == 10.0


def test_duration_of_a_running_run_counts_up_to_now(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment = ensure_experiment(client, "live", tmp_path / "mlartifacts")
    started = int(time.time() * 1000) - 30 * MINUTE_MS
    client.create_run(experiment, start_time=started, tags={"regional_lstm.kind": "train"})
    assert compare_runs(uri)["duration_min"].iloc[0] == pytest.approx(30, abs=0.2)


def test_experiment_filter_keeps_only_its_runs(store):
    uri, _ = store
    assert compare_runs(uri, experiment="alps")["run"].tolist() == ["alpine"]
    assert set(compare_runs(uri)["experiment"]) == {"camels", "alps"}


def test_every_run_is_listed_across_pages(store, monkeypatch):
    uri, _ = store
    monkeypatch.setattr(mlflow.tracking.fluent, "NUM_RUNS_PER_PAGE_PANDAS", 2)
    assert len(compare_runs(uri, kind=None)) == 5


def test_unknown_experiment_is_one_line_naming_it_and_the_existing_ones(store):
    uri, _ = store
    with pytest.raises(RegionalLSTMError) as error:
        compare_runs(uri, experiment="andes")
    message = str(error.value)
    assert "\n" not in message
    assert "'andes'" in message and "alps, camels" in message


def test_unknown_metric_is_one_line_naming_the_valid_ones(store):
    uri, _ = store
    with pytest.raises(RegionalLSTMError, match=r"'RMSE'.*KGE, NSE$"):
        compare_runs(uri, metric="RMSE")


def test_basins_are_joined_with_deltas_b_minus_a(store):
    uri, ids = store
    table = compare_basins(uri, ids["small"], ids["large"]).set_index("basin")
    assert table.columns.tolist() == [
        "NSE_small",
        "NSE_large",
        "dNSE",
        "KGE_small",
        "KGE_large",
        "dKGE",
    ]
    assert table.index.tolist() == ["01013500", "01022500", "02000000", "03000000"]
    assert table.loc["01013500", "dNSE"] == pytest.approx(0.1)
    assert table.loc["01022500", "dKGE"] == pytest.approx(0.2)
    assert pd.isna(table.loc["02000000", "NSE_large"]) and pd.isna(table.loc["02000000", "dKGE"])
    assert table.loc["03000000", "KGE_large"] == 0.85


def test_basin_columns_are_labelled_by_id_when_run_names_repeat(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = client_for(uri)
    experiment = ensure_experiment(client, "twins", tmp_path / "mlartifacts")
    first, second = (
        add_run(
            client,
            experiment,
            "tiny-train",
            scores=scores({"b1": 0.1}, {"b1": 0.2}),
            folder=tmp_path / label,
        )
        for label in ("a", "b")
    )
    table = compare_basins(uri, first, second)
    assert table.columns.tolist()[:3] == ["basin", f"NSE_{first[:8]}", f"NSE_{second[:8]}"]


def test_run_id_prefixes_resolve_to_their_runs(store):
    uri, ids = store
    table = compare_basins(uri, ids["small"][:6], ids["large"][:10].upper())
    assert "NSE_small" in table.columns and "NSE_large" in table.columns


@pytest.mark.parametrize(
    ("run_id", "message"),
    [("abc", "not a run id"), ("ffffffffff", "no run 'ffffffffff'")],
)
def test_bad_run_ids_are_one_line_errors(store, run_id, message):
    uri, ids = store
    with pytest.raises(RegionalLSTMError, match=message) as error:
        compare_basins(uri, ids["small"], run_id)
    assert "\n" not in str(error.value)


def test_the_same_run_twice_is_an_error(store):
    uri, ids = store
    with pytest.raises(RegionalLSTMError, match="same run"):
        compare_basins(uri, ids["small"], ids["small"][:8])


def test_run_without_metrics_csv_is_an_error_naming_it(store):
    uri, ids = store
    with pytest.raises(RegionalLSTMError, match=f"medium \\({ids['medium']}\\).*metrics.csv"):
        compare_basins(uri, ids["small"], ids["medium"])


@pytest.fixture(scope="module")
def project(store) -> Path:
    """The folder holding the store's mlflow.db, as ``--project`` takes it."""
    uri, _ = store
    return Path(uri.removeprefix("sqlite:///")).parent


def tab_separated(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def test_piped_leaderboard_is_tab_separated_with_full_values(project, store):
    _, ids = store
    result = run_cli("compare", "--project", project, "--experiment", "camels")
    assert result.returncode == 0, result.stderr
    assert "…" not in result.stdout
    header, *rows = tab_separated(result.stdout)
    assert header == compare.RUN_COLUMNS
    assert [row[0] for row in rows] == ["large", "medium", "small"]
    small = dict(zip(header, rows[2], strict=True))
    assert small["run_id"] == ids["small"]
    assert (small["KGE_median"], small["basins"]) == ("0.610", "3")
    assert small["start"] == "2024-05-01T12:00:00+00:00"


def test_piped_basin_table_keeps_basin_ids_and_leaves_missing_scores_empty(project, store):
    _, ids = store
    result = run_cli("compare", "--project", project, "--basins", ids["small"], ids["large"])
    assert result.returncode == 0, result.stderr
    header, *rows = tab_separated(result.stdout)
    assert header == ["basin", "NSE_small", "NSE_large", "dNSE", "KGE_small", "KGE_large", "dKGE"]
    assert [row[0] for row in rows] == ["01013500", "01022500", "02000000", "03000000"]
    assert rows[2][1:3] == ["0.100", ""]


def test_csv_dash_prints_only_csv_to_stdout(project, store, tmp_path):
    _, ids = store
    args = ("compare", "--project", project, "--experiment", "camels", "--csv", "-")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(io.StringIO(result.stdout), dtype={"run_id": str})
    assert table.columns.tolist() == compare.RUN_COLUMNS
    assert table["run_id"].tolist() == [ids["large"], ids["medium"], ids["small"]]
    assert list(tmp_path.iterdir()) == []


def test_csv_file_is_written_and_the_table_still_printed(project, tmp_path):
    csv = tmp_path / "runs.csv"
    result = run_cli("compare", "--project", project, "--experiment", "camels", "--csv", csv)
    assert result.returncode == 0, result.stderr
    assert pd.read_csv(csv)["run"].tolist() == ["large", "medium", "small"]
    assert tab_separated(result.stdout)[0] == compare.RUN_COLUMNS


def test_compare_on_a_fresh_store_prints_the_header_and_no_mlflow_chatter(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_cli("compare", "--tracking-uri", uri, isolated=True)  # all that reaches stderr
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines() == ["\t".join(compare.RUN_COLUMNS)]


def test_library_calls_on_a_fresh_store_print_no_mlflow_chatter(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = f"from regional_lstm.tracking.compare import compare_runs; compare_runs({uri!r})"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
