"""Result files in the SYMFLUENCE layout: per-basin prediction CSVs, metrics.csv, plots."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from regional_lstm.atomic import write_text
from regional_lstm.basin_ids import id_problem
from regional_lstm.data.store import STREAMFLOW_AREA
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.metrics import compute_metrics, summarize
from regional_lstm.units import convert

M3S_SIDECAR = "predictions_m3s.json"  # how the prediction CSVs' m3/s columns were computed


def safe_file_id(basin: str) -> str:
    """``basin`` for a file name; an id that is not one (``../x``, ``a/b``) is refused."""
    problem = id_problem(basin)
    if problem is not None:
        raise RegionalLSTMError(problem)
    return basin


def mm_per_day_to_m3s(q: np.ndarray | pd.Series, area_km2: float) -> np.ndarray | pd.Series:
    """Specific discharge [mm/day] to discharge [m3/s] for a basin of ``area_km2``."""
    return convert(q, "mm/day", "m3/s", area_km2=area_km2)


def m3s_conversion(store: str, store_attrs: Mapping[str, Any], area_long_name: str) -> dict:
    """How the m3/s columns come from mm/day: times the store's ``area``, exact where that is
    the area the source's mm/day were computed with (the store says so), else approximate."""
    exact = store_attrs.get(STREAMFLOW_AREA) == "area"
    if exact:
        note = "mm/day times the area they were converted with: the source's m3/s"
    else:
        note = (
            "approximate: the store's streamflow came in mm/day, converted with an area it does "
            "not hold; its 'area' may differ from that one (compare in mm/day: metrics.csv)"
        )
    return {
        "store": store,
        "area_variable": "area",
        "area_long_name": area_long_name,
        "exact": exact,
        "note": note,
    }


def write_m3s_conversion(results_dir: Path, conversion: dict) -> Path:
    """``predictions_m3s.json`` beside the prediction CSVs it describes."""
    return write_text(results_dir / M3S_SIDECAR, json.dumps(conversion, indent=2) + "\n")


def prediction_table(frame: pd.DataFrame, area_km2: float, snow: bool) -> pd.DataFrame:
    """The documented CSV columns: Date,Observed_m3s,Predicted_m3s,Residual (or snow form)."""
    q_obs = mm_per_day_to_m3s(frame["streamflow_obs"].astype(np.float64), area_km2)
    q_sim = mm_per_day_to_m3s(frame["streamflow_sim"].astype(np.float64), area_km2)
    if snow:
        table = {
            "Q_obs": q_obs,
            "Q_pred": q_sim,
            "SWE_obs": frame["swe_obs"],
            "SWE_pred": frame["swe_sim"],
        }
    else:
        table = {"Observed_m3s": q_obs, "Predicted_m3s": q_sim, "Residual": q_obs - q_sim}
    return pd.DataFrame(table, index=frame.index)


def write_predictions(
    results_dir: Path, basin: str, table: pd.DataFrame, model: str = "LSTM"
) -> Path:
    """``<basin>_<model>_predictions.csv``; missing values stay empty cells on their dates."""
    name = f"{safe_file_id(basin)}_{model}_predictions.csv"
    return write_text(results_dir / name, dated_csv(table))


def dated_csv(table: pd.DataFrame) -> str:
    """A daily table as CSV: ISO dates, numbers to 6 significant digits, missing values empty.

    The same text as pandas' ``to_csv(date_format=..., float_format="%.6g")`` at a fifth of its
    cost, which counts when a project writes one file per basin.
    """
    dates = np.datetime_as_string(table.index.to_numpy("datetime64[D]"), unit="D")
    columns = [dates]
    for name in table.columns:
        values = table[name].to_numpy(np.float64)
        cells = np.array([f"{value:.6g}" for value in values.tolist()], dtype=object)
        cells[np.isnan(values)] = ""
        columns.append(cells)
    header = ",".join(["Date", *map(str, table.columns)])
    return "\n".join([header, *map(",".join, zip(*columns, strict=True))]) + "\n"


def metrics_table(predictions: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per basin of streamflow metrics (RMSE, MAE, Bias in mm/day)."""
    rows = {
        basin: compute_metrics(
            frame["streamflow_obs"].to_numpy(np.float64),
            frame["streamflow_sim"].to_numpy(np.float64),
        )
        for basin, frame in predictions.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "basin"
    return table


def empty_row_notes(predictions: dict[str, pd.DataFrame], lookback: int | None = None) -> pd.Series:
    """Per basin why its metrics row is empty, "" where it is not: no day predicted (no window
    of ``lookback`` days of complete inputs), or no predicted day observed."""
    window = f"{lookback}-day " if lookback else ""
    notes = {}
    for basin, frame in predictions.items():
        period = f"{frame.index[0].date()}..{frame.index[-1].date()}" if len(frame) else "(none)"
        predicted = frame["streamflow_sim"].notna().to_numpy()
        observed = frame["streamflow_obs"].notna().to_numpy()
        if not predicted.any():
            notes[basin] = f"no complete {window}input window in evaluation period {period}"
        elif not (predicted & observed).any():
            notes[basin] = f"no observed streamflow on a predicted day in {period}"
        else:
            notes[basin] = ""
    return pd.Series(notes, name="note", dtype=object).rename_axis("basin")


def write_metrics(results_dir: Path, table: pd.DataFrame) -> tuple[Path, dict[str, float]]:
    """``metrics.csv`` and its summary (median/mean NSE and KGE, count of NSE < 0)."""
    path = write_text(results_dir / "metrics.csv", table.to_csv(float_format="%.6g"))
    return path, summarize(table)
