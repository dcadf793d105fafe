"""Evaluate a saved model basin by basin and write the result files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.artifacts import load_model
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.outputs import (
    metrics_table,
    prediction_table,
    write_metrics,
    write_predictions,
)
from regional_lstm.evaluation.plots import plot_hydrograph, plot_nse_cdf
from regional_lstm.evaluation.predict import predict_period
from regional_lstm.workflows.plan import check_period_in_store

BEST_MODEL = Path("models") / "LSTM" / "best_model.pt"


@dataclass(frozen=True)
class Evaluation:
    """Where the results went and the headline numbers."""

    results_dir: Path
    metrics: pd.DataFrame
    summary: dict[str, float]


def evaluate_project(
    project_dir: str | Path,
    *,
    period: Period | None = None,
    plots: bool = True,
    log=print,
) -> Evaluation:
    """Predict the evaluation period (VALIDATION_PERIOD unless ``period``) for every basin."""
    project_dir = Path(project_dir).absolute()
    model, card = load_model(project_dir / BEST_MODEL)
    reader = StoreReader(card.config["DATA_STORE"])
    if period is None:
        period = Period.parse(card.config["VALIDATION_PERIOD"])
    check_period_in_store(reader, "evaluation period", period)
    basins = card.trained_basins
    reader.require(["area"], ("basin",), "static attribute")
    predictions = predict_period(model, card, reader, basins, period)
    areas = reader.read_static(basins, ["area"])[:, 0]
    snow = "swe" in card.data.targets
    results_dir = project_dir / "results"
    table = metrics_table(predictions)
    for basin, area in zip(basins, areas, strict=True):
        csv = prediction_table(predictions[basin], float(area), snow)
        write_predictions(results_dir, basin, csv)
        if plots:
            plot_hydrograph(
                results_dir / f"{basin}_LSTM_hydrograph.png",
                basin,
                csv,
                float(table.loc[basin, "NSE"]),
            )
    _, summary = write_metrics(results_dir, table)
    if plots:
        plot_nse_cdf(results_dir / "nse_cdf.png", table["NSE"])
    log(
        f"Evaluation {period}: {summary['n_basins']} basins, median NSE "
        f"{summary['nse_median']:.3f}, mean NSE {summary['nse_mean']:.3f}, median KGE "
        f"{summary['kge_median']:.3f}, NSE < 0 in {summary['n_nse_negative']} basin(s)"
    )
    return Evaluation(results_dir, table, {k: float(np.float64(v)) for k, v in summary.items()})


def evaluate_tracked(
    project_dir: str | Path, *, period: Period | None = None, plots: bool = True, log=print
) -> Evaluation:
    """``regional-lstm evaluate``: evaluate a saved model as its own MLflow run."""
    from regional_lstm.config import Config
    from regional_lstm.tracking.runs import fingerprint, log_results, start_run

    project_dir = Path(project_dir).absolute()
    _, card = load_model(project_dir / BEST_MODEL)
    config = Config.from_mapping(card.config, source=str(project_dir / BEST_MODEL))
    period = period or config.VALIDATION_PERIOD
    data = fingerprint(config.DATA_STORE, card.trained_basins, {"evaluation_period": str(period)})
    tracked = start_run(config, "evaluate", data_fingerprint=data)
    source = card.training.get("mlflow_run_id")
    if source:
        tracked.set_tags({"regional_lstm.trained_in_run": source})
    try:
        evaluation = evaluate_project(project_dir, period=period, plots=plots, log=log)
        log_results(tracked, evaluation.summary, evaluation.results_dir)
    except BaseException:
        tracked.finish("FAILED")
        raise
    tracked.finish()
    log(f"MLflow run {tracked.run_id} in {tracked.uri}")
    return evaluation
