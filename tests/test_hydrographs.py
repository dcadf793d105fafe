"""Hydrographs drawn on one reused figure, in this process or in forked ones, are the same."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from regional_lstm.evaluation.hydrographs import (
    PLOTS_PER_PROCESS,
    Drawing,
    Hydrograph,
    draw_hydrographs,
)


def _table(seed: int, band: bool = False, days: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2001-01-01", periods=days, freq="D")
    observed = rng.gamma(1.0, 5.0 * (seed + 1), days)
    table = pd.DataFrame(
        {"Observed_m3s": observed, "Predicted_m3s": observed * rng.uniform(0.5, 1.5, days)},
        index=index,
    )
    if band:
        table["Predicted_p05_m3s"] = table["Predicted_m3s"] * 0.7
        table["Predicted_p95_m3s"] = table["Predicted_m3s"] * 1.4
    return table


def _plots(folder, count: int, band: bool = False) -> list[Hydrograph]:
    return [
        Hydrograph(folder / f"b{i}_LSTM_hydrograph.png", f"b{i}", _table(i, band), 0.1 * i)
        for i in range(count)
    ]


@pytest.mark.parametrize("band", [False, True])
def test_a_basin_drawn_after_others_looks_as_if_drawn_alone(tmp_path, band) -> None:
    """Nothing of the previous basin (lines, y ticks, title, band) survives on the reused figure."""
    first, second = _plots(tmp_path, 2, band)
    alone = Hydrograph(tmp_path / "alone.png", first.basin, first.table, first.nse)
    draw_hydrographs([alone], band)
    draw_hydrographs([second, first], band)
    assert first.path.read_bytes() == alone.path.read_bytes()
    assert second.path.read_bytes() != first.path.read_bytes()
    with Image.open(first.path) as image:
        assert image.size == (1100, 385)


def test_a_new_period_redraws_the_date_axis(tmp_path) -> None:
    short = Hydrograph(tmp_path / "short.png", "b0", _table(0, days=200), 0.5)
    long = Hydrograph(tmp_path / "long.png", "b0", _table(0, days=800), 0.5)
    long_alone = Hydrograph(tmp_path / "long_alone.png", "b0", long.table, 0.5)
    draw_hydrographs([long_alone], band=False)
    draw_hydrographs([short, long], band=False)
    assert long.path.read_bytes() == long_alone.path.read_bytes()


def test_forked_processes_draw_the_same_files_as_this_process(tmp_path) -> None:
    count = 2 * PLOTS_PER_PROCESS
    (tmp_path / "here").mkdir()
    (tmp_path / "forked").mkdir()
    here = Drawing(_plots(tmp_path / "here", count), band=False, processes=1)
    forked = Drawing(_plots(tmp_path / "forked", count), band=False, processes=2)
    assert (here.processes, forked.processes) == (1, 2)
    assert forked.wait() == [plot.path for plot in forked.plots]
    here.wait()
    for plot in here.plots:
        assert plot.path.read_bytes() == (tmp_path / "forked" / plot.path.name).read_bytes()


def test_few_plots_are_not_worth_a_process(tmp_path) -> None:
    drawing = Drawing(_plots(tmp_path, PLOTS_PER_PROCESS + 1), band=False, processes=2)
    assert drawing.processes == 1
    assert all(path.is_file() for path in drawing.wait())


def test_a_failure_in_a_drawing_process_reaches_the_caller(tmp_path) -> None:
    (tmp_path / "not_a_folder").write_text("a file where a folder should be")
    plots = _plots(tmp_path, 2 * PLOTS_PER_PROCESS)
    plots[3] = Hydrograph(tmp_path / "not_a_folder" / "b3.png", "b3", plots[3].table, 0.3)
    with pytest.raises(OSError):
        Drawing(plots, band=False, processes=2).wait()
    assert not list(tmp_path.glob("**/.*tmp*"))  # atomic writes left nothing behind
