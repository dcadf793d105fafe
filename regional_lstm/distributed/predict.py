"""Prediction of many basins spread over Ray workers: one core, one torch thread each.

The driver splits the basins into contiguous shards and ships only the members' weights
(tensors) and model cards (JSON); every worker reads its own basin blocks from the store,
batches windows across its basins, and returns each basin's simulation as float32. The driver
then adds the observations as `predict_members` does, so results match the serial path to
float rounding. Ray is used only when the work is estimated to outweigh starting it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import ray
import torch
from torch import nn

from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.distributed.cluster import ray_session
from regional_lstm.distributed.worker_errors import user_errors
from regional_lstm.evaluation.predict import (
    check_mode,
    predict_members,
    prediction_frames,
    simulate_members,
)
from regional_lstm.locations import Location
from regional_lstm.models import build_model
from regional_lstm.progress import progress

logger = logging.getLogger(__name__)

SHARD_BASINS = 64  # basins per task at most: bounds a result in the object store (~4 MB/40 y)
# Windows per forward pass on a worker's one thread. Measured on 2 cores at hidden 64, lookback
# 365: 64 windows ran 1.6-1.8x the windows per CPU-second of 1024 (3 layers: 2,300 against
# 1,300; 1 layer: 10,000 against 5,700); at hidden 256 the batch size made no difference.
WORKER_BATCH_SIZE = 64
# What Ray costs before its first prediction (2 cores; benchmarks/evaluation_parallel.py): a
# local start is ray.init (2-6 s), two workers importing torch and the package (1.4 CPU-s
# each) and a shutdown (1 s); on a running Ray only the workers' imports remain.
START_SECONDS = 8.0
RUNNING_SECONDS = 2.5
# The serial path's speed on idle cores (one process, 2 threads, batches of 1024): 50 basins x
# 5 years at hidden 64, 3 layers, lookback 365 (2.8e12 multiply-adds) predicted in 36-43 s.
# On cores shared with other jobs it ran 3e9-3e10: this rate errs towards staying serial.
SERIAL_MACS_PER_SECOND = 7e10


def predict_members_distributed(
    members: Sequence[tuple[nn.Module, ModelCard]],
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    *,
    mode: str = "exact",
    address: str | None = None,
    spread: bool | None = None,
    **options: Any,
) -> list[dict[str, pd.DataFrame]]:
    """`predict_members` on Ray workers when that pays; in this process otherwise.

    ``spread`` None decides by `worth_spreading`: Ray is joined (``address``) or reused when
    running, and started locally only when the serial time it saves exceeds its start-up.
    ``options`` (device, precision, batch size) go to `predict_members` when it runs here; a
    model on a GPU always does.
    """
    cards = [card for _, card in members]
    check_mode(cards, mode)
    reader.positions(basins)  # an unknown basin fails here, not inside a worker
    device = options.get("device") or torch.device("cpu")
    if spread is None:
        spread = worth_spreading(cards, len(basins), period, mode, ray.is_initialized())
    if device.type != "cpu" or not spread:
        return predict_members(members, reader, basins, period, mode=mode, **options)
    with ray_session(address):
        cpus = int(ray.available_resources().get("CPU", 0))
        if cpus < 2:  # all cores busy (inside a trial): tasks would only queue
            return predict_members(members, reader, basins, period, mode=mode, **options)
        simulated = _simulate_on_workers(members, reader.path, basins, period, mode, cpus)
    return prediction_frames(cards, reader, period, simulated)


def worth_spreading(
    cards: Sequence[ModelCard], n_basins: int, period: Period, mode: str, running: bool
) -> bool:
    """Whether half the estimated serial time (two cores or more) exceeds Ray's start-up cost."""
    if n_basins < 2:
        return False
    serial_seconds = prediction_macs(cards, n_basins, period, mode) / SERIAL_MACS_PER_SECOND
    return serial_seconds / 2 > (RUNNING_SECONDS if running else START_SECONDS)


def prediction_macs(cards: Sequence[ModelCard], n_basins: int, period: Period, mode: str) -> float:
    """Multiply-adds of predicting ``period`` for ``n_basins`` (every day predicted).

    An LSTM step costs 4 gates x hidden x (layer inputs + hidden) per layer, the first layer's
    inputs being the forcings and attributes; exact mode runs ``lookback`` steps per day,
    stateful mode one.
    """
    total = 0.0
    for card in cards:
        spec = card.model
        inputs = len(card.data.inputs) + len(card.data.static)
        layer_inputs = inputs + (spec.num_layers - 1) * spec.hidden_size
        per_step = 4 * spec.hidden_size * (layer_inputs + spec.num_layers * spec.hidden_size)
        steps = card.data.lookback if mode == "exact" else 1
        total += float(n_basins) * period.days * steps * per_step
    return total


def shards(basins: Sequence[str], workers: int) -> list[list[str]]:
    """Contiguous runs of ``basins`` (neighbours share store chunks), about equal in size."""
    size = min(SHARD_BASINS, -(-len(basins) // workers))
    return [list(basins[first : first + size]) for first in range(0, len(basins), size)]


def _simulate_on_workers(
    members: Sequence[tuple[nn.Module, ModelCard]],
    store: Path,
    basins: Sequence[str],
    period: Period,
    mode: str,
    workers: int,
) -> list[dict[str, np.ndarray]]:
    """`simulate_members` of every shard on its own worker, merged back in ``basins`` order."""
    weights = ray.put([{k: v.cpu() for k, v in m.state_dict().items()} for m, _ in members])
    cards = [card.to_dict() for _, card in members]
    parts = shards(basins, workers)
    logger.info(
        f"Predicting {period} for {len(basins)} basins in {len(parts)} shard(s) on "
        f"{min(workers, len(parts))} Ray workers"
    )
    pending = {
        _simulate_shard.remote(str(store), shard, period, weights, cards, mode): len(shard)
        for shard in parts
    }
    merged: list[dict[str, np.ndarray]] = [{} for _ in members]
    with progress(len(basins), f"predict {period} on {workers} workers") as advance, user_errors():
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            for k, simulated in enumerate(ray.get(done)):
                merged[k].update(simulated)
            advance(pending.pop(done))
    return [{basin: member[basin] for basin in basins} for member in merged]


@ray.remote(num_cpus=1)
def _simulate_shard(
    store: Location,
    basins: list[str],
    period: Period,
    weights: list[dict[str, torch.Tensor]],
    cards: list[dict[str, Any]],
    mode: str,
) -> list[dict[str, np.ndarray]]:
    """On a worker: rebuild the members from their weights and simulate this shard."""
    torch.set_num_threads(1)
    members = []
    for state, card_dict in zip(weights, cards, strict=True):
        card = ModelCard.from_dict(card_dict)
        model = build_model(card.model)
        model.load_state_dict(state)
        members.append((model.eval(), card))
    reader = StoreReader(store)
    return simulate_members(
        members, reader, basins, period, batch_size=WORKER_BATCH_SIZE, mode=mode
    )
