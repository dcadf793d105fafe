"""Evaluate a project's saved model basin by basin and write its result files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm.accelerator import inference_settings
from regional_lstm.artifacts import load_members
from regional_lstm.atomic import staged_files
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.store import open_store
from regional_lstm.distributed.predict import predict_members_distributed
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.hydrographs import Drawing, Hydrograph
from regional_lstm.evaluation.metrics import nse
from regional_lstm.evaluation.outputs import (
    M3S_SIDECAR,
    empty_row_notes,
    m3s_conversion,
    metrics_table,
    prediction_table,
    safe_file_id,
    write_m3s_conversion,
    write_metrics,
    write_predictions,
)
from regional_lstm.evaluation.plots import plot_nse_cdf
from regional_lstm.evaluation.predict import predict_mc_dropout, predict_period
from regional_lstm.evaluation.readings import log_readings, predicted_days, withheld
from regional_lstm.evaluation.uncertainty import (
    combine_members,
    ensemble_metrics,
    ensemble_prediction_table,
)
from regional_lstm.locations import saved_location
from regional_lstm.pipeline.layout import RESULTS_DIR, project_model
from regional_lstm.pipeline.planning import check_period_in_store
from regional_lstm.progress import track

logger = logging.getLogger(__name__)


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
    mc_dropout: int | None = None,
    mode: str | None = None,
    distribute: bool | None = None,
    withhold_readings: bool = False,
) -> Evaluation:
    """Predict the evaluation period (VALIDATION_PERIOD unless ``period``) for every basin.

    The project's model, or its seed ensemble when it has one and no single model.
    ``mc_dropout`` > 0 (default: the model's LSTM_MC_DROPOUT_PASSES) predicts that many times
    with dropout on and reports the spread as an ensemble would (mean, 5-95 % band, coverage,
    CRPS). ``mode`` (default: the model's EVALUATION_MODE) is "exact" (a window per day),
    "stateful" (one pass per basin, see `predict_block_stateful`) or "both": the exact results,
    with each basin's ``NSE_stateful`` and ``NSE_exact_minus_stateful`` added to metrics.csv.
    ``distribute`` spreads the prediction over Ray workers (True), keeps it in this process
    (False), or (None) spreads it when that is estimated to pay (`predict_members_distributed`).
    ``withhold_readings`` predicts a model with lagged streamflow as if no reading existed.
    """
    project_dir = Path(project_dir).absolute()
    saved, manifest = load_members(project_model(project_dir))
    if withhold_readings:
        saved = withheld(saved, str(project_dir))
    model, card = saved[0]
    reader = StoreReader(saved_location(card.config))
    if period is None:
        period = Period.parse(card.config["VALIDATION_PERIOD"])
    check_period_in_store(reader, "evaluation period", period)
    basins = card.trained_basins
    if mc_dropout is None:
        mc_dropout = int(card.config.get("LSTM_MC_DROPOUT_PASSES", 0)) if len(saved) == 1 else 0
    if mc_dropout and len(saved) > 1:
        raise RegionalLSTMError(
            f"{project_dir}: MC-dropout applies to a single model, not an ensemble"
        )
    mode = mode or card.config.get("EVALUATION_MODE", "exact")
    if mode == "both" and (mc_dropout or len(saved) > 1):
        raise RegionalLSTMError(
            f"{project_dir}: evaluation modes are compared on a single model without MC-dropout"
        )
    predicted = "exact" if mode == "both" else mode
    device, precision = inference_settings(
        bool(card.config.get("RAY_USE_GPU", False)),
        card.config.get("LSTM_MIXED_PRECISION", "none"),
    )
    on = {"device": device, "precision": precision}
    extra = None
    if mode == "both":  # stateful first: it refuses attention models before the long exact pass
        stateful = predict_period(model, card, reader, basins, period, mode="stateful", **on)
    if mc_dropout:
        members = predict_mc_dropout(
            model, card, reader, basins, period, mc_dropout, mode=predicted, **on
        )
    else:
        members = predict_members_distributed(
            saved,
            reader,
            basins,
            period,
            mode=predicted,
            address=card.config.get("RAY_ADDRESS"),
            spread=distribute,
            **on,
        )
    log_readings(reader, card, period, predicted_days(members[0]))
    if mode == "both":
        extra = mode_difference(members[0], stateful)
    statistic = manifest.get("statistic", "mean")
    evaluation = write_results(
        project_dir / RESULTS_DIR,
        reader,
        members,
        statistic=statistic,
        plots=plots,
        extra=extra,
        lookback=card.data.lookback,
        model=card.model.kind,
    )
    log_evaluation(evaluation, f"Evaluation {period}")
    return evaluation


def mode_difference(
    exact: dict[str, pd.DataFrame], stateful: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Per basin the stateful NSE and how far the exact one lies above it."""
    rows = {
        basin: (
            nse(frame["streamflow_obs"], frame["streamflow_sim"]),
            nse(frame["streamflow_obs"], stateful[basin]["streamflow_sim"]),
        )
        for basin, frame in exact.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["exact", "NSE_stateful"])
    table["NSE_exact_minus_stateful"] = table.pop("exact") - table["NSE_stateful"]
    return table.rename_axis("basin")


def write_results(
    results_dir: Path,
    reader: StoreReader,
    members: Sequence[dict[str, pd.DataFrame]],
    *,
    statistic: str = "mean",
    plots: bool = True,
    extra: pd.DataFrame | None = None,
    lookback: int | None = None,
    model: str = "LSTM",
) -> Evaluation:
    """Prediction CSVs, metrics.csv, hydrographs and the NSE CDF of one model or an ensemble.

    With several members the CSVs carry the ensemble centre and its 5-95 % band, and the metrics
    add coverage, CRPS and each member's NSE. ``extra`` columns (per basin) join metrics.csv.
    Its ``note`` column says why a basin's row is empty (`empty_row_notes`, windows of
    ``lookback`` days). ``model`` names the files (``<basin>_<model>_predictions.csv``).
    """
    basins = list(members[0])
    for basin in basins:  # ids name the files: refuse one that is a path before writing any
        safe_file_id(basin)
    reader.require(["area"], ("basin",), "static attribute")
    areas = reader.read_static(basins, ["area"])[:, 0]
    conversion = store_m3s_conversion(reader)
    if len(members) == 1:
        predictions = members[0]
        table = metrics_table(predictions)
    else:
        predictions = combine_members(members, centre=statistic)
        table = ensemble_metrics(members, predictions)
    if extra is not None:
        table = table.join(extra)
    table["note"] = empty_row_notes(predictions, lookback)
    snow = "swe_sim" in predictions[basins[0]]
    tables = {}
    for basin, area in zip(basins, areas, strict=True):
        if len(members) == 1:
            tables[basin] = prediction_table(predictions[basin], float(area), snow)
        else:
            tables[basin] = ensemble_prediction_table(predictions[basin], float(area))
    if not conversion["exact"]:
        logger.warning(
            f"{results_dir}: the m3/s columns of the prediction CSVs are approximate: "
            f"{conversion['note'].removeprefix('approximate: ')} ({M3S_SIDECAR})"
        )
    with staged_files(results_dir) as staging:  # a failed write leaves the old results whole
        summary = _write_files(
            staging, tables, table, conversion, plots, len(members) > 1, results_dir.name, model
        )
    if len(members) > 1:
        summary |= {
            "coverage_90_median": float(table["coverage_90"].median()),
            "crps_median": float(table["CRPS"].median()),
            "nse_member_median": float(table["NSE_member_median"].median()),
        }
    return Evaluation(results_dir, table, {k: float(np.float64(v)) for k, v in summary.items()})


def _write_files(
    folder: Path,
    tables: dict[str, pd.DataFrame],
    table: pd.DataFrame,
    conversion: dict,
    plots: bool,
    band: bool,
    name: str,
    model: str,
) -> dict[str, float]:
    """The result files of ``model`` into ``folder``; returns metrics.csv's summary. ``name``
    labels the progress bar."""
    nse = table["NSE"]
    plotted = [
        Hydrograph(folder / f"{basin}_{model}_hydrograph.png", basin, csv, float(nse[basin]))
        for basin, csv in tables.items()
        if plots
    ]
    drawing = Drawing(plotted, band=band)  # in other processes while CSVs are written
    for basin in track(list(tables), f"write {name}"):
        write_predictions(folder, basin, tables[basin], model)
    drawing.wait()
    write_m3s_conversion(folder, conversion)
    _, summary = write_metrics(folder, table)
    if plots:
        plot_nse_cdf(folder / "nse_cdf.png", nse)
    return summary


def store_m3s_conversion(reader: StoreReader) -> dict:
    """`m3s_conversion` of the store ``reader`` reads."""
    ds = open_store(reader.path)
    long_name = str(ds["area"].attrs.get("long_name", "area"))
    return m3s_conversion(str(reader.path), ds.attrs, long_name)


def log_evaluation(evaluation: Evaluation, what: str) -> None:
    """One line of headline numbers."""
    summary = evaluation.summary
    line = (
        f"{what}: {int(summary['n_basins'])} basins, median NSE {summary['nse_median']:.3f}, "
        f"mean NSE {summary['nse_mean']:.3f}, median KGE {summary['kge_median']:.3f}, "
        f"NSE < 0 in {int(summary['n_nse_negative'])} basin(s)"
    )
    if "coverage_90_median" in summary:
        line += (
            f"; 5-95 % band holds {summary['coverage_90_median']:.0%} of observations "
            f"(median), CRPS {summary['crps_median']:.3f} mm/day, median member NSE "
            f"{summary['nse_member_median']:.3f}"
        )
    empty = int((evaluation.metrics["note"] != "").sum()) if "note" in evaluation.metrics else 0
    if empty:
        line += f"; {empty} basin(s) without scores (their note in metrics.csv says why)"
    logger.info(line)
