"""Figures: a hydrograph per basin and the CDF of NSE over basins (PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regional_lstm.atomic import atomic_path


def plot_hydrograph(path: Path, basin: str, table: pd.DataFrame, nse: float) -> Path:
    """Observed vs predicted discharge over the evaluation period."""
    observed = table.iloc[:, 0]
    predicted = table.iloc[:, 1]
    fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    ax.plot(observed.index, observed.to_numpy(), color="black", lw=0.8, label="observed")
    ax.plot(predicted.index, predicted.to_numpy(), color="tab:blue", lw=0.8, label="LSTM")
    ax.set_ylabel("discharge [m3/s]")
    ax.set_title(f"basin {basin}  NSE {nse:.2f}")
    ax.legend(loc="upper right", frameon=False)
    _save(fig, path)
    return path


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


def plot_hydrograph_band(path: Path, basin: str, table: pd.DataFrame, nse: float) -> Path:
    """Observed discharge, ensemble centre and its quantile band (an ensemble_prediction_table)."""
    observed, centre, lower, upper = (table.iloc[:, i] for i in range(4))
    fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    ax.fill_between(
        lower.index,
        lower.to_numpy(),
        upper.to_numpy(),
        color="tab:blue",
        alpha=0.25,
        lw=0,
        label=f"{_band_label(lower.name)}-{_band_label(upper.name)}",
    )
    ax.plot(observed.index, observed.to_numpy(), color="black", lw=0.8, label="observed")
    ax.plot(centre.index, centre.to_numpy(), color="tab:blue", lw=0.8, label="LSTM ensemble")
    ax.set_ylabel("discharge [m3/s]")
    ax.set_title(f"basin {basin}  NSE {nse:.2f}")
    ax.legend(loc="upper right", frameon=False)
    _save(fig, path)
    return path


def _band_label(column: str) -> str:
    """``p05`` from ``Predicted_p05_m3s``."""
    return column.removeprefix("Predicted_").removesuffix("_m3s")
