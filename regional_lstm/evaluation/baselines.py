"""Reference predictions a learned model must beat: the day-of-year climatology."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader


def climatology(
    reader: StoreReader,
    basins: Sequence[str],
    reference: Period,
    period: Period,
    target: str = "streamflow",
) -> dict[str, pd.Series]:
    """Per basin, the mean observed ``target`` of each calendar day over ``reference``, on
    the days of ``period`` (29 February takes 28 February's value when ``reference`` lacks it).

    A strong naive baseline: it knows each basin's own seasonal regime, which an ungauged
    prediction does not.
    """
    known = reader.time_slice(reference.start, reference.end)
    wanted = reader.time_slice(period.start, period.end)
    observed = reader.read_dynamic(basins, [target], known)[:, :, 0]
    day_of_year = _calendar_day(reader.time[known])
    dates = reader.time[wanted]
    out = {}
    for i, basin in enumerate(basins):
        means = pd.Series(observed[i]).groupby(day_of_year).mean()
        means = means.reindex(range(1, 367))
        means[60] = means[60] if np.isfinite(means[60]) else means[59]
        out[basin] = pd.Series(
            means.to_numpy()[_calendar_day(dates) - 1], index=pd.DatetimeIndex(dates, name="Date")
        )
    return out


def _calendar_day(dates: pd.DatetimeIndex) -> np.ndarray:
    """1..366 with 29 February as day 60 in every year (so 1 March is always day 61)."""
    shift = (~dates.is_leap_year & (dates.month > 2)).astype(int)
    return np.asarray(dates.day_of_year + shift)
