"""Lagged streamflow readings at prediction time: withholding them, and saying how many were used.

A model trained with ``LSTM_LAGGED_STREAMFLOW`` reads the store's streamflow L days before each
day it predicts; where a reading is missing (a gauge that is down, an ungauged basin, days after
the last reading) it predicts as it learnt to without one. Withholding every reading scores the
model as if each basin were ungauged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import LAGGED, POOL_BASINS, read_back
from regional_lstm.errors import RegionalLSTMError

logger = logging.getLogger(__name__)

Members = list[tuple[nn.Module, ModelCard]]


def withheld(members: Sequence[tuple[nn.Module, ModelCard]], what: str) -> Members:
    """The members with every lagged reading marked missing; ``what`` names them in the error
    for a model that takes no readings."""
    if not all(card.data.lags for _, card in members):
        raise RegionalLSTMError(
            f"{what}: the model has no lagged streamflow inputs (LSTM_LAGGED_STREAMFLOW), so "
            "there are no readings to withhold"
        )
    return [
        (model, dataclasses.replace(card, data=dataclasses.replace(card.data, withhold_lags=True)))
        for model, card in members
    ]


def count_readings(
    reader: StoreReader, card: ModelCard, period: Period, predicted: Mapping[str, np.ndarray]
) -> tuple[int, int]:
    """(days predicted with the reading of the model's shortest lag, days predicted), over the
    basins of ``predicted`` (basin -> the period's days that got a prediction, booleans)."""
    if card.data.withhold_lags:
        return 0, int(sum(days.sum() for days in predicted.values()))
    lag = min(card.data.lags)
    times = reader.time_slice(period.start, period.end)
    before = slice(times.start, times.stop - lag)  # with the lag days before: t - lag for each t
    basins = list(predicted)
    filled = total = 0
    for start in range(0, len(basins), POOL_BASINS):
        block = basins[start : start + POOL_BASINS]
        seen = np.isfinite(read_back(reader, block, [LAGGED], before, lag)[..., 0])
        for row, basin in enumerate(block):
            days = predicted[basin]
            filled += int((seen[row] & days).sum())
            total += int(days.sum())
    return filled, total


def predicted_days(frames: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """Basin -> which days of `predict_members`' frames got a streamflow prediction."""
    return {basin: frame[f"{LAGGED}_sim"].notna().to_numpy() for basin, frame in frames.items()}


def log_readings(
    reader: StoreReader, card: ModelCard, period: Period, predicted: Mapping[str, np.ndarray]
) -> None:
    """One line on how many predicted days used a streamflow reading (models with lags only);
    ``predicted`` as in `count_readings`."""
    if not card.data.lags:
        return
    filled, total = count_readings(reader, card, period, predicted)
    lag = min(card.data.lags)
    if card.data.withhold_lags:
        logger.info(f"Lagged streamflow withheld: {total:,} days predicted without readings")
        return
    logger.info(
        f"Lagged streamflow: {filled:,} of {total:,} predicted days had the reading of {lag} "
        f"day(s) before; the rest were predicted without it"
    )
