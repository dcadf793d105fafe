"""Predictions of a trained model for whole periods, basin by basin, with their dates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn

from regional_lstm.accelerator import autocast, to_device
from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import (
    LAGGED,
    POOL_BASINS,
    BasinBlock,
    gather_windows,
    iter_blocks,
    lagged_channels,
)
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.progress import progress

EVAL_BATCH_SIZE = 1024


@torch.no_grad()
def predict_block(
    model: nn.Module,
    block: BasinBlock,
    ends: list[np.ndarray],
    lookback: int,
    batch_size: int,
    device: torch.device,
    *,
    stochastic: bool = False,
    precision: str = "none",
) -> list[np.ndarray]:
    """Standardised float32 predictions (n_ends, n_targets) for each basin's window ends.

    The model (on ``device``) runs under autocast in ``precision``; it is put in eval mode
    unless ``stochastic`` (MC-dropout keeps its dropout on). The outputs stay on the device
    until the last batch, so the host prepares batches while the device computes.
    """
    if not stochastic:
        model.eval()
    basin_idx = np.concatenate([np.full(len(e), i) for i, e in enumerate(ends)]).astype(np.int64)
    flat_ends = np.concatenate(ends).astype(np.int64)
    # One output buffer, filled batch by batch: on a CPU, keeping each batch's small output
    # instead left a batch's worth of activations stranded in the allocator's heap per batch
    # (a training worker grew by up to 2 GB in one validation pass).
    flat = torch.empty((len(flat_ends), block.y.shape[-1]), dtype=torch.float32, device=device)
    for first in range(0, len(flat_ends), batch_size):
        part = slice(first, first + batch_size)
        batch = to_device(gather_windows(block, basin_idx[part], flat_ends[part], lookback), device)
        with autocast(device, precision):
            flat[part] = model(batch)["y_hat"].float()
    return np.split(flat.cpu().numpy(), np.cumsum([len(e) for e in ends])[:-1])


STATEFUL_CHUNK_DAYS = 512  # days per forward call when a stretch is run through with its state


@torch.no_grad()
def predict_block_stateful(
    model: nn.Module,
    block: BasinBlock,
    ends: list[np.ndarray],
    lookback: int,
    batch_size: int,
    device: torch.device,
    *,
    stochastic: bool = False,
    precision: str = "none",
) -> list[np.ndarray]:
    """As `predict_block`, but the LSTM runs once through each gap-free stretch of inputs.

    Each stretch starts from a zero state and carries it day to day, so day t's prediction has
    seen the stretch from its start instead of only the ``lookback`` days before t; the first
    ``lookback - 1`` days of a stretch are its spin-up. The days predicted are those of ``ends``
    (`BasinBlock.window_ends` without targets): one pass costs a stretch's length in LSTM steps
    where windows cost ``lookback`` steps per day.
    """
    if not stochastic:
        model.eval()
    simulated = np.full((*block.x.shape[:2], block.y.shape[-1]), np.nan, np.float32)
    stretches = sorted(_stretches(block, lookback), key=lambda run: run[2] - run[1], reverse=True)
    for first in range(0, len(stretches), batch_size):
        batch = stretches[first : first + batch_size]
        longest = batch[0][2] - batch[0][1]
        # Stretches end-padded to the longest: a padded tail never reaches earlier steps.
        x = np.zeros((len(batch), longest, block.x.shape[-1]), np.float32)
        for k, (basin, start, stop) in enumerate(batch):
            x[k, : stop - start] = block.x[basin, start:stop]
        static = torch.from_numpy(block.static[[basin for basin, _, _ in batch]])
        y_hat, state = np.empty((*x.shape[:2], simulated.shape[-1]), np.float32), None
        for day in range(0, longest, STATEFUL_CHUNK_DAYS):
            days = slice(day, day + STATEFUL_CHUNK_DAYS)
            inputs = to_device(
                {"x_dynamic": torch.from_numpy(x[:, days]), "x_static": static}, device
            )
            with autocast(device, precision):
                out = model.forward_steps(inputs, state)
            y_hat[:, days], state = out["y_hat"].float().cpu().numpy(), out["state"]
        for k, (basin, start, stop) in enumerate(batch):
            simulated[basin, start + lookback - 1 : stop] = y_hat[k, lookback - 1 : stop - start]
    return [simulated[i, basin_ends] for i, basin_ends in enumerate(ends)]


def _stretches(block: BasinBlock, lookback: int) -> list[tuple[int, int, int]]:
    """(basin, first, stop) of every run of gap-free input days at least ``lookback`` long."""
    clean = ~np.isnan(block.x).any(axis=-1)
    edges = np.diff(np.pad(clean.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    runs = []
    for basin in range(len(block.basins)):
        starts, stops = np.flatnonzero(edges[basin] == 1), np.flatnonzero(edges[basin] == -1)
        runs += [(basin, a, b) for a, b in zip(starts, stops, strict=True) if b - a >= lookback]
    return runs


# Evaluation modes: how a block of basins is predicted.
PREDICTORS = {"exact": predict_block, "stateful": predict_block_stateful}


def predict_period(
    model: nn.Module,
    card: ModelCard,
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    device: torch.device | None = None,
    stochastic: bool = False,
    mode: str = "exact",
    precision: str = "none",
) -> dict[str, pd.DataFrame]:
    """Per basin a frame indexed by date with ``<target>_obs`` and ``<target>_sim`` columns.

    Observations are the store's values as stored; a day whose input window has a gap gets no
    prediction (NaN). Units are the store's (streamflow mm/day, swe mm). ``mode`` "exact" runs
    one window per day; "stateful" one pass per gap-free stretch (`predict_block_stateful`).
    """
    options = {"batch_size": batch_size, "device": device, "stochastic": stochastic, "mode": mode}
    options["precision"] = precision
    return predict_members([(model, card)], reader, basins, period, **options)[0]


def predict_members(
    members: Sequence[tuple[nn.Module, ModelCard]],
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    device: torch.device | None = None,
    stochastic: bool = False,
    mode: str = "exact",
    precision: str = "none",
) -> list[dict[str, pd.DataFrame]]:
    """Each member's `predict_period`, reading every block of basins once for all members.

    Members that share inputs and normalisation (an ensemble's seeds, MC-dropout passes of one
    model) are fed the same standardised block; others get blocks of their own. The models are
    moved to ``device`` (default CPU) and run in ``precision`` (`predict_block`).
    """
    options = {"batch_size": batch_size, "device": device, "stochastic": stochastic, "mode": mode}
    options["precision"] = precision
    simulated = simulate_members(members, reader, basins, period, **options)
    return prediction_frames([card for _, card in members], reader, period, simulated)


def check_mode(cards: Sequence[ModelCard], mode: str) -> None:
    """Refuse an unknown evaluation mode, and stateful mode for a model with temporal attention."""
    if mode not in PREDICTORS:
        choices = ", ".join(PREDICTORS)
        raise RegionalLSTMError(f"unknown evaluation mode {mode!r} (choose from {choices})")
    if mode == "stateful" and any(card.model.use_attention for card in cards):
        raise RegionalLSTMError(
            "stateful evaluation needs a model without temporal attention (it attends over "
            "whole windows): use the exact mode"
        )


def simulate_members(
    members: Sequence[tuple[nn.Module, ModelCard]],
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    device: torch.device | None = None,
    stochastic: bool = False,
    mode: str = "exact",
    precision: str = "none",
) -> list[dict[str, np.ndarray]]:
    """Per member and basin the simulation, (period days, targets) float32 in store units.

    NaN where the input window has a gap. The model half of `predict_members` (which adds the
    observations), and what each Ray worker runs on its share of the basins.
    """
    check_mode([card for _, card in members], mode)
    predict = PREDICTORS[mode]
    device = device or torch.device("cpu")
    for model, _ in members:
        model.to(device)
    times = reader.time_slice(period.start, period.end)
    days = times.stop - times.start
    out: list[dict[str, np.ndarray]] = [{} for _ in members]
    groups = _input_groups([card for _, card in members])
    with progress(len(basins) * len(groups), f"predict {period}") as advance:
        for group in groups:
            card = members[group[0]][1]
            targets = list(card.data.targets)
            norm, lookback = card.normalization, card.data.lookback
            for block, ends in iter_blocks(
                reader, list(basins), period, card.data, norm, need_target=False
            ):
                for k in group:
                    predictions = predict(
                        members[k][0],
                        block,
                        ends,
                        lookback,
                        batch_size,
                        device,
                        stochastic=stochastic,
                        precision=precision,
                    )
                    for i, basin in enumerate(block.basins):
                        simulated = np.full((days, len(targets)), np.nan, dtype=np.float32)
                        simulated[ends[i] - block.period_start] = norm.unscale_target(
                            predictions[i], targets
                        )
                        out[k][basin] = simulated
                advance(len(block.basins), block.basins[-1])
    return out


def prediction_frames(
    cards: Sequence[ModelCard],
    reader: StoreReader,
    period: Period,
    simulated: Sequence[dict[str, np.ndarray]],
) -> list[dict[str, pd.DataFrame]]:
    """`predict_members`' frames: each basin's stored observations beside each simulation."""
    times = reader.time_slice(period.start, period.end)
    dates = pd.DatetimeIndex(reader.time[times], name="Date")
    basins = list(simulated[0])
    out: list[dict[str, pd.DataFrame]] = [{} for _ in cards]
    for targets in dict.fromkeys(card.data.targets for card in cards):
        chosen = [k for k, card in enumerate(cards) if card.data.targets == targets]
        for first in range(0, len(basins), POOL_BASINS):
            block = basins[first : first + POOL_BASINS]
            observed = reader.read_optional(block, list(targets), times)
            for i, basin in enumerate(block):
                columns = {f"{t}_obs": observed[i, :, j] for j, t in enumerate(targets)}
                for k in chosen:
                    sim = {f"{t}_sim": simulated[k][basin][:, j] for j, t in enumerate(targets)}
                    out[k][basin] = pd.DataFrame(columns | sim, index=dates)
    return out


def _input_groups(cards: Sequence[ModelCard]) -> list[list[int]]:
    """Positions of the models that read the same standardised data (one block serves each)."""
    groups: list[list[int]] = []
    for k, card in enumerate(cards):
        group = next((g for g in groups if _same_inputs(cards[g[0]], card)), None)
        if group is None:
            groups.append(group := [])
        group.append(k)
    return groups


def _same_inputs(a: ModelCard, b: ModelCard) -> bool:
    """Whether two models read the same standardised data (so one block serves both)."""
    return a.data == b.data and a.normalization == b.normalization


def predict_frame(
    model: nn.Module, card: ModelCard, frame: pd.DataFrame, *, batch_size: int = EVAL_BATCH_SIZE
) -> pd.DataFrame:
    """Predict from a long table: one row per basin and day with the model's inputs.

    Columns: ``basin``, ``date``, every dynamic input and every static attribute (constant
    within a basin); for a model with lagged streamflow also ``streamflow``, the readings in
    mm/day (empty or NaN where there is none; the column may be left out). Returns ``basin``,
    ``date`` and one column per target in store units; days without ``lookback`` gap-free days
    of inputs before them get NaN.
    """
    dynamic, static, targets = (
        list(card.data.dynamic),
        list(card.data.static),
        list(card.data.targets),
    )
    missing = [c for c in ["basin", "date", *dynamic, *static] if c not in frame.columns]
    if missing:
        raise RegionalLSTMError(
            f"model input has no column {missing[0]!r} (needs basin, date, "
            f"{', '.join(dynamic + static)})"
        )
    norm = card.normalization
    parts = []
    for basin, rows in frame.groupby("basin", sort=False):
        rows = rows.assign(date=pd.to_datetime(rows["date"])).set_index("date").sort_index()
        time = pd.date_range(rows.index[0], rows.index[-1], freq="D")
        rows = rows.reindex(time)
        # A copy: scaling works in place, and pandas may hand out a read-only view.
        x = norm.scale_dynamic(rows[dynamic].to_numpy(np.float32, copy=True)[None], dynamic)
        if card.data.lags:
            x = np.concatenate([x, _frame_readings(rows, card)], axis=-1)
        attributes = rows[static].dropna().iloc[:1].to_numpy(np.float64, copy=True)
        if static and len(attributes) == 0:
            raise RegionalLSTMError(f"basin {basin}: no values for its static attributes")
        block = BasinBlock(
            basins=[str(basin)],
            time=time,
            x=x,
            # float64 scaling, then float32, exactly as load_block does for stored basins
            static=norm.scale_static(attributes.reshape(1, len(static)), static).astype(np.float32),
            y=np.full((1, len(time), len(targets)), np.nan, np.float32),
            period_start=0,
        )
        ends = block.window_ends(card.data.lookback, need_target=False)
        prediction = predict_block(
            model, block, ends, card.data.lookback, batch_size, torch.device("cpu")
        )[0]
        simulated = np.full((len(time), len(targets)), np.nan, np.float32)
        simulated[ends[0]] = norm.unscale_target(prediction, targets)
        parts.append(
            pd.DataFrame(
                {
                    "basin": str(basin),
                    "date": time,
                    **{t: simulated[:, k] for k, t in enumerate(targets)},
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _frame_readings(rows: pd.DataFrame, card: ModelCard) -> np.ndarray:
    """The lagged-streamflow channels of one basin's rows (`sampling.lagged_channels`)."""
    lead = max(card.data.lags)
    readings = np.full((1, lead + len(rows), 1), np.nan, np.float32)
    if LAGGED in rows:
        readings[0, lead:, 0] = pd.to_numeric(rows[LAGGED], errors="coerce").to_numpy(np.float32)
    scaled = card.normalization.scale_target(readings, [LAGGED])[..., 0]
    return lagged_channels(scaled, card.data.lags, card.data.withhold_lags)


@contextmanager
def dropout_active(model: nn.Module) -> Iterator[None]:
    """Dropout (and nn.LSTM's between-layer dropout) on, everything else in eval mode."""
    switched = [m for m in model.modules() if isinstance(m, nn.Dropout | nn.LSTM)]
    for module in switched:
        module.train()
    try:
        yield
    finally:
        model.eval()


def predict_mc_dropout(
    model: nn.Module,
    card: ModelCard,
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    passes: int,
    *,
    seed: int = 0,
    mode: str = "exact",
    device: torch.device | None = None,
    precision: str = "none",
) -> list[dict[str, pd.DataFrame]]:
    """``passes`` stochastic predictions with dropout left on (Gal & Ghahramani 2016).

    Each pass is a member as in `predict_period`; a model without dropout gives identical
    passes, i.e. no spread.
    """
    if card.model.dropout == 0:
        raise RegionalLSTMError("MC-dropout needs a model trained with LSTM_DROPOUT > 0")
    torch.manual_seed(seed)
    with dropout_active(model):
        return predict_members(
            [(model, card)] * passes,
            reader,
            basins,
            period,
            stochastic=True,
            mode=mode,
            device=device,
            precision=precision,
        )
