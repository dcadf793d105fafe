"""Figures: a hydrograph per basin and the CDF of NSE over basins (PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_nse_cdf(path: Path, nse: pd.Series) -> Path:
    """Empirical CDF of NSE over basins, x clipped at -1 as is customary."""
    values = np.sort(np.clip(nse.dropna().to_numpy(), -1.0, 1.0))
    fig, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    ax.step(values, np.arange(1, len(values) + 1) / max(len(values), 1), where="post")
    ax.set_xlim(-1, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("NSE (evaluation period)")
    ax.set_ylabel("fraction of basins")
    ax.set_title(f"{len(values)} basins, median NSE {np.median(values):.2f}")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _numeric_first(value: str) -> tuple[int, float, str]:
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)
