"""Figures: a hydrograph per basin and the CDF of NSE over basins (PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regional_lstm.atomic import atomic_path
from regional_lstm.evaluation.hydrographs import Hydrographs


def plot_hydrograph(path: Path, basin: str, table: pd.DataFrame, nse: float) -> Path:
    """Observed vs predicted discharge over the evaluation period (a prediction table)."""
    with Hydrographs() as hydrographs:
        return hydrographs.draw(path, basin, table, nse)


def plot_hydrograph_band(path: Path, basin: str, table: pd.DataFrame, nse: float) -> Path:
    """Observed discharge, ensemble centre and its quantile band (an ensemble_prediction_table)."""
    with Hydrographs(band=True) as hydrographs:
        return hydrographs.draw(path, basin, table, nse)


def _save(fig, path: Path) -> None:
    """Write the figure atomically (a reader never sees half a file), then free it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)


def plot_nse_cdf(path: Path, nse: pd.Series) -> Path:
    """Empirical CDF of NSE over basins, x clipped at -1 as is customary."""
    values = nse.dropna()
    title = f"{len(values)} basins, median NSE {values.median():.2f}"
    return plot_nse_cdf_comparison(path, {"": nse}, title=title)


def plot_nse_cdf_comparison(
    path: Path, series: dict[str, pd.Series], *, title: str | None = None
) -> Path:
    """CDFs of NSE over basins for several models (e.g. PUB vs gauged), x clipped at -1."""
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    medians = []
    for label, nse in series.items():
        values = np.sort(np.clip(nse.dropna().to_numpy(), -1.0, 1.0))
        steps = np.arange(1, len(values) + 1) / max(len(values), 1)
        ax.step(values, steps, where="post", label=label or None)
        medians.append(f"{label} {np.median(values):.2f}" if label else "")
    ax.set_xlim(-1, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("NSE (evaluation period)")
    ax.set_ylabel("fraction of basins")
    ax.set_title(title or "median NSE: " + ", ".join(medians))
    if any(series):
        ax.legend(loc="upper left", frameon=False)
    ax.grid(alpha=0.3)
    _save(fig, path)
    return path


def plot_metric_vs_params(path: Path, trials: pd.DataFrame, keys: list[str], label: str) -> Path:
    """One panel per hyperparameter: each trial's best score against its value."""
    fig, axes = plt.subplots(
        1, len(keys), figsize=(3.2 * len(keys), 3), squeeze=False, layout="constrained"
    )
    for ax, key in zip(axes[0], keys, strict=True):
        values = trials[key].astype(str)
        order = sorted(values.unique(), key=_numeric_first)
        positions = values.map({v: i for i, v in enumerate(order)})
        ax.scatter(positions, trials["best_score"], color="tab:blue")
        ax.set_xticks(range(len(order)), order)
        ax.set_xlabel(key)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(label)
    _save(fig, path)
    return path


def _numeric_first(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
