"""Predictions of a trained model for whole periods, basin by basin, with their dates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import load_block
from regional_lstm.training.loop import predict_block

POOL_BASINS = 256


def predict_period(
    model: nn.Module,
    card: ModelCard,
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    *,
    batch_size: int = 1024,
    device: torch.device | None = None,
) -> dict[str, pd.DataFrame]:
    """Per basin a frame indexed by date with ``<target>_obs`` and ``<target>_sim`` columns.

    Observations are the store's values as stored; a day whose input window has a gap gets no
    prediction (NaN). Units are the store's (streamflow mm/day, swe mm).
    """
    device = device or torch.device("cpu")
    targets = list(card.data.targets)
    out: dict[str, pd.DataFrame] = {}
    for first in range(0, len(basins), POOL_BASINS):
        chunk = list(basins[first : first + POOL_BASINS])
        block = load_block(reader, chunk, period, card.data, card.normalization)
        ends = block.window_ends(card.data.lookback, need_target=False)
        predictions = predict_block(model, block, ends, card.data.lookback, batch_size, device)
        times = reader.time_slice(period.start, period.end)
        observed = reader.read_dynamic(chunk, targets, times)
        dates = reader.time[times]
        for i, basin in enumerate(chunk):
            simulated = np.full((len(dates), len(targets)), np.nan, dtype=np.float32)
            rows = ends[i] - block.period_start
            simulated[rows] = card.normalization.unscale_target(predictions[i], targets)
            columns = {f"{t}_obs": observed[i, :, k] for k, t in enumerate(targets)}
            columns |= {f"{t}_sim": simulated[:, k] for k, t in enumerate(targets)}
            out[basin] = pd.DataFrame(columns, index=pd.DatetimeIndex(dates, name="Date"))
    return out
