"""Hydrographs of many basins: one figure redrawn basin after basin, split over processes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from PIL import Image

from regional_lstm.atomic import atomic_path

SIZE = (10, 3.5)
DPI = 110
MARGINS = {"left": 0.08, "right": 0.98, "bottom": 0.1, "top": 0.9}
# A project writes one hydrograph per basin, so each costs what matters. Everything that is the
# same for every basin of a period (frame, date axis, legend) is drawn once and copied under
# each basin's lines, y axis and title, as an animation blits; zlib level 1 halves the PNG
# encoding for files a third larger. About 1.7x faster per basin than a full redraw.
PNG_COMPRESSION = 1
# Forking a drawing process and setting up its figure costs about two hydrographs.
PLOTS_PER_PROCESS = 8


@dataclass(frozen=True)
class Hydrograph:
    """One basin's plot: its prediction table (columns in the prediction-table order)."""

    path: Path
    basin: str
    table: pd.DataFrame
    nse: float


class Hydrographs:
    """One figure redrawn basin after basin: new data on the same axes, lines and ticks.

    ``band``: tables of an ensemble (observed, centre, lower, upper) with the band shaded.
    Use as a context manager; the figure is freed at the end.
    """

    def __init__(self, band: bool = False) -> None:
        self.fig, self.ax = plt.subplots(figsize=SIZE, dpi=DPI)
        self.fig.subplots_adjust(**MARGINS)
        (self.observed,) = self.ax.plot([], [], color="black", lw=0.8, label="observed")
        label = "LSTM ensemble" if band else "LSTM"
        (self.predicted,) = self.ax.plot([], [], color="tab:blue", lw=0.8, label=label)
        self.ax.set_ylabel("discharge [m3/s]")
        self.ax.xaxis_date()
        self.title = self.ax.set_title("", loc="left", y=1.0)  # fixed: no re-layout per basin
        self.with_band = band
        self.band = None
        self._background = None
        self._background_key: tuple | None = None

    def draw(self, path: Path, basin: str, table: pd.DataFrame, nse: float) -> Path:
        """Write ``table``'s hydrograph (columns in the prediction-table order) to ``path``."""
        days = mdates.date2num(table.index.to_numpy())
        self.observed.set_data(days, table.iloc[:, 0].to_numpy())
        self.predicted.set_data(days, table.iloc[:, 1].to_numpy())
        band_label = None
        if self.with_band:
            lower, upper = table.iloc[:, 2], table.iloc[:, 3]
            band_label = f"{_band_label(lower.name)}-{_band_label(upper.name)}"
            if self.band is not None:
                self.band.remove()
            self.band = self.ax.fill_between(
                days, lower.to_numpy(), upper.to_numpy(), color="tab:blue", alpha=0.25, lw=0
            )
        self._y_limits(table)
        self.title.set_text(f"basin {basin}  NSE {nse:.2f}")
        canvas = self.fig.canvas
        canvas.restore_region(
            self._background_for((days[0], days[-1]) if len(days) else None, band_label)
        )
        for artist in self._per_basin():
            self.ax.draw_artist(artist)
        pixels = np.asarray(canvas.buffer_rgba())[..., :3]
        with atomic_path(path) as tmp:
            Image.fromarray(pixels).save(tmp, format="png", compress_level=PNG_COMPRESSION)
        return path

    def _per_basin(self) -> list:
        """What changes from basin to basin, in matplotlib's drawing order (spines over lines)."""
        band = [self.band] if self.band is not None else []
        spines = list(self.ax.spines.values())
        return [*band, self.observed, self.predicted, *spines, self.ax.yaxis, self.title]

    def _background_for(self, x_range: tuple | None, band_label: str | None):
        """The frame, date axis and legend of this period, drawn once and kept as pixels."""
        key = (x_range, band_label)
        if self._background is None or key != self._background_key:
            if x_range is not None:
                self.ax.set_xlim(*x_range)
            handles = [self.observed, self.predicted]
            if band_label is not None:
                handles.append(Patch(color="tab:blue", alpha=0.25, lw=0, label=band_label))
            # Above the axes, beside the title: it never hides the data.
            self.ax.legend(
                handles=handles,
                loc="lower right",
                bbox_to_anchor=(1, 1),
                ncols=len(handles),
                frameon=False,
            )
            dynamic = self._per_basin()
            for artist in dynamic:
                artist.set_visible(False)
            self.fig.canvas.draw()
            self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)
            self._background_key = key
            for artist in dynamic:
                artist.set_visible(True)
        return self._background

    def _y_limits(self, table: pd.DataFrame) -> None:
        """The data's range plus 5 %."""
        values = table.iloc[:, : 4 if self.with_band else 2].to_numpy(np.float64)
        finite = values[np.isfinite(values)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        pad = 0.05 * (high - low) or 1.0
        self.ax.set_ylim(low - pad, high + pad)

    def close(self) -> None:
        plt.close(self.fig)

    def __enter__(self) -> Hydrographs:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class Drawing:
    """Hydrographs being drawn, in forked processes when there are enough of them.

    Drawing starts at once, so the caller can write its CSVs meanwhile; ``wait`` returns the
    paths (and raises what a drawing process raised). Fewer than two processes' worth, or where
    ``fork`` is unavailable, they are drawn in this process by ``wait``.
    """

    def __init__(
        self, plots: Sequence[Hydrograph], *, band: bool, processes: int | None = None
    ) -> None:
        self.plots, self.band = list(plots), band
        wanted = processes if processes is not None else _cores()
        self.processes = max(1, min(wanted, len(self.plots) // PLOTS_PER_PROCESS))
        if "fork" not in multiprocessing.get_all_start_methods():
            self.processes = 1
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future] = []
        if self.processes > 1:
            # A forked child flushes the parent's unwritten output again when it exits.
            sys.stdout.flush()
            sys.stderr.flush()
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("fork")
            )
            self._futures = [
                self._pool.submit(draw_hydrographs, self.plots[i :: self.processes], band)
                for i in range(self.processes)
            ]

    def wait(self) -> list[Path]:
        if not self.plots:
            return []
        if self._pool is None:
            return draw_hydrographs(self.plots, self.band)
        try:
            for future in self._futures:
                future.result()
        finally:
            self._pool.shutdown(cancel_futures=True)
        return [plot.path for plot in self.plots]


def draw_hydrographs(plots: Sequence[Hydrograph], band: bool) -> list[Path]:
    """Draw ``plots`` one after the other on one figure, in this process."""
    with Hydrographs(band=band) as figure:
        return [figure.draw(p.path, p.basin, p.table, p.nse) for p in plots]


def _cores() -> int:
    """Cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _band_label(column: str) -> str:
    """``p05`` from ``Predicted_p05_m3s``."""
    return column.removeprefix("Predicted_").removesuffix("_m3s")
