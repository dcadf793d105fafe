"""Hydrographs of many basins drawn on one figure, one after the other."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from regional_lstm.atomic import atomic_path

SIZE = (10, 3.5)
MARGINS = {"left": 0.08, "right": 0.98, "bottom": 0.1, "top": 0.9}
# A project writes one hydrograph per basin, so each costs what matters: a new figure (axes,
# ticks) and constrained layout (a second draw) cost as much as drawing; zlib level 1 halves
# the PNG encoding for files a third larger. Together about 2x faster per basin.
PNG_COMPRESSION = 1


class Hydrographs:
    """One figure redrawn basin after basin: new data on the same axes, lines and ticks.

    ``band``: tables of an ensemble (observed, centre, lower, upper) with the band shaded.
    Use as a context manager; the figure is freed at the end.
    """

    def __init__(self, band: bool = False) -> None:
        self.fig, self.ax = plt.subplots(figsize=SIZE)
        self.fig.subplots_adjust(**MARGINS)
        (self.observed,) = self.ax.plot([], [], color="black", lw=0.8, label="observed")
        label = "LSTM ensemble" if band else "LSTM"
        (self.predicted,) = self.ax.plot([], [], color="tab:blue", lw=0.8, label=label)
        self.ax.set_ylabel("discharge [m3/s]")
        self.with_band = band
        self.band = None

    def draw(self, path: Path, basin: str, table: pd.DataFrame, nse: float) -> Path:
        """Write ``table``'s hydrograph (columns in the prediction-table order) to ``path``."""
        dates = table.index
        self.observed.set_data(dates, table.iloc[:, 0].to_numpy())
        self.predicted.set_data(dates, table.iloc[:, 1].to_numpy())
        if self.with_band:
            lower, upper = table.iloc[:, 2], table.iloc[:, 3]
            if self.band is not None:
                self.band.remove()
            self.band = self.ax.fill_between(
                dates,
                lower.to_numpy(),
                upper.to_numpy(),
                color="tab:blue",
                alpha=0.25,
                lw=0,
                label=f"{_band_label(lower.name)}-{_band_label(upper.name)}",
            )
        self._limits(table)
        self.ax.set_title(f"basin {basin}  NSE {nse:.2f}")
        if self.ax.get_legend() is None:  # the same labels for every basin: built once
            self.ax.legend(loc="upper right", frameon=False)
        with atomic_path(path) as tmp:
            self.fig.savefig(tmp, dpi=110, pil_kwargs={"compress_level": PNG_COMPRESSION})
        return path

    def _limits(self, table: pd.DataFrame) -> None:
        """The data's range plus 5 % (relim would not see the band, a collection)."""
        values = table.iloc[:, : 4 if self.with_band else 2].to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        pad = 0.05 * (high - low) or 1.0
        self.ax.set_ylim(low - pad, high + pad)
        if len(table.index):
            self.ax.set_xlim(table.index[0], table.index[-1])

    def close(self) -> None:
        plt.close(self.fig)

    def __enter__(self) -> Hydrographs:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _band_label(column: str) -> str:
    """``p05`` from ``Predicted_p05_m3s``."""
    return column.removeprefix("Predicted_").removesuffix("_m3s")
