"""What `predict` writes: a (basin, time) dataset (``.zarr`` or ``.nc``) or one CSV per basin.

A dataset holds each target in store units (``streamflow`` [mm/day], ``swe`` [mm]), an
ensemble's 5-95 % band beside it (``streamflow_p05``, ``streamflow_p95``) and the discharge
``streamflow_m3s`` [m3/s] of basins whose ``area`` is known (NaN for the others), with the
model's identity in the attributes. A CSV folder holds ``<basin>_LSTM_predictions.csv`` with
``Date,Predicted_m3s`` (and ``Predicted_p05_m3s``, ``Predicted_p95_m3s``). Both are written
atomically: a failed write leaves any earlier output as it was.
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from regional_lstm.atomic import atomic_path, replace_dir
from regional_lstm.evaluation.outputs import dated_csv, mm_per_day_to_m3s, safe_file_id

logger = logging.getLogger(__name__)

UNITS = {"streamflow": "mm/day", "swe": "mm"}
DATASET_SUFFIXES = (".zarr", ".nc")


# A basin id becomes part of a file name only if it cannot name another folder.
def write_predictions_dataset(
    path: Path,
    dates: pd.DatetimeIndex,
    series: Mapping[str, np.ndarray],
    area_km2: np.ndarray,
    basins: list[str],
    attrs: Mapping[str, str],
) -> Path:
    """``series`` (name -> (basin, time) in store units) as a dataset at ``path``."""
    data = {}
    for name, values in series.items():
        target = name.rsplit("_p", 1)[0] if re.search(r"_p\d\d$", name) else name
        data[name] = xr.Variable(
            ("basin", "time"),
            values.astype(np.float32),
            {"units": UNITS.get(target, "unknown"), "long_name": _long_name(name, target)},
        )
    for name in [n for n in series if n.split("_p")[0] == "streamflow"]:
        discharge = mm_per_day_to_m3s(series[name].astype(np.float64), area_km2[:, None])
        data[name.replace("streamflow", "streamflow_m3s", 1)] = xr.Variable(
            ("basin", "time"),
            np.asarray(discharge, np.float32),
            {"units": "m3/s", "long_name": _long_name(name, "streamflow") + " (discharge)"},
        )
    ds = xr.Dataset(data, coords={"basin": np.array(basins, dtype=object), "time": dates})
    ds.attrs = dict(attrs)
    if path.suffix == ".nc":
        with atomic_path(path) as tmp:
            ds.to_netcdf(tmp, engine="netcdf4")
        return path
    work = path.parent / f".{path.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        ds.to_zarr(work, mode="w", consolidated=True)
        replace_dir(work, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _long_name(name: str, target: str) -> str:
    what = {"streamflow": "predicted streamflow", "swe": "predicted snow water equivalent"}
    base = what.get(target, f"predicted {target}")
    band = re.search(r"_p(\d\d)$", name)
    return f"{base}, ensemble {int(band[1])} % quantile" if band else base


def write_predictions_csv(
    folder: Path,
    dates: pd.DatetimeIndex,
    streamflow: Mapping[str, np.ndarray],
    area_km2: np.ndarray,
    basins: list[str],
) -> Path:
    """One ``<basin>_LSTM_predictions.csv`` per basin in a new folder, swapped in at the end.

    ``streamflow`` maps "" (the prediction) and band suffixes ("_p05", "_p95") to (basin, time)
    [mm/day]. A basin without a known area gets ``Predicted_mm_day`` columns instead, and a
    warning.
    """
    names = [safe_file_id(b) for b in basins]
    work = folder.parent / f".{folder.name}.partial-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    no_area = []
    try:
        for i, basin in enumerate(names):
            known = np.isfinite(area_km2[i]) and area_km2[i] > 0
            columns = {}
            for suffix, values in streamflow.items():
                if known:
                    columns[f"Predicted{suffix}_m3s"] = mm_per_day_to_m3s(
                        values[i].astype(np.float64), float(area_km2[i])
                    )
                else:
                    columns[f"Predicted{suffix}_mm_day"] = values[i].astype(np.float64)
            if not known:
                no_area.append(basin)
            table = pd.DataFrame(columns, index=dates)
            (work / f"{basin}_LSTM_predictions.csv").write_text(dated_csv(table))
        replace_dir(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if no_area:
        logger.warning(
            "%d basin(s) have no area, so their CSVs give mm/day instead of m3/s: %s",
            len(no_area),
            ", ".join(no_area[:10]) + (" ..." if len(no_area) > 10 else ""),
        )
    return folder
