"""The training loop of one worker: epochs, validation, early stopping, checkpoints.

Plain PyTorch. Ray (or a test) hands in a ``WorkerContext`` with the rank, a way to gather
values from all ranks, a model wrapper (DDP), a report callback and a checkpoint to resume from;
without Ray the defaults make this a single-process trainer.
"""

from __future__ import annotations

import copy
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec, TrainSampler, load_block
from regional_lstm.evaluation.metrics import kge, nse
from regional_lstm.models import ModelSpec, build_model, freeze
from regional_lstm.training.checkpoint import read_checkpoint, write_checkpoint
from regional_lstm.training.loop import EarlyStopping, predict_block, train_epoch
from regional_lstm.training.loss import LOSSES

EVAL_BATCH_SIZE = 1024
POOL_BASINS = 256


@dataclass(frozen=True)
class TrainingPlan:
    """Everything a worker needs, fixed by the driver before training starts (picklable)."""

    store: str
    basins: list[str]
    data: DataSpec
    model: ModelSpec
    norm: Normalization
    counts: dict[str, int]
    train_period: Period
    early_stopping_period: Period
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    patience: int
    loss: str
    loss_weights: tuple[float, ...]
    gradient_clip: float
    samples_per_epoch: int | None
    seed: int
    selection_metric: str = "nse"  # which validation median picks the best epoch: nse or kge
    initial_weights: str | None = None  # a donor's weights (.pt) to fine-tune from
    frozen: tuple[str, ...] = ()  # model parts kept fixed, e.g. ("embedding", "lstm")


def _single_process_gather(value: Any) -> list[Any]:
    return [value]


@dataclass
class WorkerContext:
    """How a worker talks to its peers and to whoever runs it."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    all_gather: Callable[[Any], list[Any]] = _single_process_gather
    wrap_model: Callable[[nn.Module], nn.Module] = lambda model: model
    report: Callable[[dict[str, float], Path | None], None] = lambda metrics, ckpt: None
    resume_from: Path | None = None
    log: Callable[[str], None] = print


def seed_everything(seed: int) -> None:
    """Same seed, same config, same data, one worker: identical results on CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(plan: TrainingPlan, ctx: WorkerContext) -> dict[str, Any]:
    """Train until ``epochs`` or early stopping; returns the final JSON state."""
    seed_everything(plan.seed)
    reader = StoreReader(plan.store)
    model = build_model(plan.model)
    if plan.initial_weights is not None:
        model.load_state_dict(
            torch.load(plan.initial_weights, map_location="cpu", weights_only=True)
        )
    freeze(model, plan.frozen)
    model = ctx.wrap_model(model.to(ctx.device))
    core = getattr(model, "module", model)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad],
        lr=plan.learning_rate,
        weight_decay=plan.weight_decay,
    )
    early = EarlyStopping(plan.patience)
    state: dict[str, Any] = {"epoch": 0, "history": [], "stopped_early": False}
    best_weights = copy.deepcopy(core.state_dict())
    if ctx.resume_from is not None:
        weights, best_weights, optimizer_state, state = read_checkpoint(ctx.resume_from)
        core.load_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        early = EarlyStopping(plan.patience, **state["early_stopping"])
        ctx.log(f"Resuming from epoch {state['epoch']} ({ctx.resume_from})")
    sampler = TrainSampler(
        reader,
        plan.counts,
        plan.train_period,
        plan.data,
        plan.norm,
        batch_size=plan.batch_size,
        seed=plan.seed,
        rank=ctx.rank,
        world_size=ctx.world_size,
        samples_per_epoch=plan.samples_per_epoch,
        pool_basins=POOL_BASINS,
    )
    loss_fn = LOSSES[plan.loss](plan.loss_weights)
    validation = _ValidationSet(reader, plan, plan.basins[ctx.rank :: ctx.world_size])
    for epoch in range(state["epoch"], plan.epochs):
        if state["stopped_early"]:
            break
        total, steps = train_epoch(
            model, sampler.epoch(epoch), optimizer, loss_fn, plan.gradient_clip, ctx.device
        )
        # Validation uses the unwrapped model: ranks hold different basins, so their forward
        # counts differ, and a DDP forward may broadcast buffers (a collective) on each call.
        local = (total, steps, *validation.evaluate(core, loss_fn, ctx.device))
        train_loss, val_loss, scores = _combine(ctx.all_gather(local))
        median_nse, median_kge = _median_scores(scores)
        score = median_nse if plan.selection_metric == "nse" else median_kge
        if early.update(score, epoch):
            best_weights = copy.deepcopy(core.state_dict())
        ctx.log(
            f"Epoch {epoch + 1}/{plan.epochs}: Train Loss: {train_loss:.3f} "
            f"Val Loss: {val_loss:.3f} NSE: {median_nse:.2f}"
        )
        metrics = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_nse": median_nse,
            "val_kge": median_kge,
            "best_score": early.best,
        }
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        state["early_stopping"] = {
            "best": early.best,
            "best_epoch": early.best_epoch,
            "bad_epochs": early.bad_epochs,
        }
        if early.should_stop:
            ctx.log(f"Early stopping triggered at epoch {epoch + 1}")
        state["stopped_early"] = early.should_stop
        _report(ctx, metrics, core, best_weights, optimizer, state)
    return state


def _report(ctx, metrics, core, best_weights, optimizer, state) -> None:
    """Every rank reports; rank 0 attaches the checkpoint (written to a temporary folder)."""
    if ctx.rank != 0:
        ctx.report(metrics, None)
        return
    with tempfile.TemporaryDirectory(prefix="regional-lstm-ckpt-") as tmp:
        folder = write_checkpoint(
            Path(tmp), core.state_dict(), best_weights, optimizer.state_dict(), state
        )
        ctx.report(metrics, folder)


def _combine(gathered: list[tuple]) -> tuple[float, float, dict[str, float]]:
    """Mean train loss, mean validation loss and per-basin NSE over all ranks."""
    total = sum(g[0] for g in gathered)
    steps = sum(g[1] for g in gathered)
    val_total = sum(g[2] for g in gathered)
    val_count = sum(g[3] for g in gathered)
    scores = {basin: value for g in gathered for basin, value in g[4].items()}
    return total / max(steps, 1), val_total / max(val_count, 1), scores


def _median_scores(scores: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Median NSE and KGE over basins (NaN when no basin could be scored)."""
    if not scores:
        return float("nan"), float("nan")
    values = np.array(list(scores.values()), dtype=np.float64)
    with np.errstate(all="ignore"):
        return float(np.nanmedian(values[:, 0])), float(np.nanmedian(values[:, 1]))


class _ValidationSet:
    """This rank's share of the basins on the early-stopping period, kept in memory if small."""

    def __init__(self, reader: StoreReader, plan: TrainingPlan, basins: list[str]) -> None:
        self.reader, self.plan, self.basins = reader, plan, basins
        self._blocks = None if len(basins) > POOL_BASINS else list(self._load())

    def _load(self):
        for first in range(0, len(self.basins), POOL_BASINS):
            chunk = self.basins[first : first + POOL_BASINS]
            block = load_block(
                self.reader, chunk, self.plan.early_stopping_period, self.plan.data, self.plan.norm
            )
            yield block, block.window_ends(self.plan.data.lookback, need_target=True)

    def evaluate(self, model, loss_fn, device) -> tuple[float, int, dict[str, float]]:
        """Summed NSE* loss, window count, and (NSE, KGE) of the first target per basin."""
        total, count, by_basin = 0.0, 0, {}
        first = self.plan.data.targets[:1]
        for block, ends in self._blocks if self._blocks is not None else self._load():
            predictions = predict_block(
                model, block, ends, self.plan.data.lookback, EVAL_BATCH_SIZE, device
            )
            target_std = torch.from_numpy(block.target_std())
            for i, (basin_ends, y_hat) in enumerate(zip(ends, predictions, strict=True)):
                if len(basin_ends) == 0:
                    continue
                y = torch.from_numpy(block.y[i, basin_ends])
                std = target_std[i].expand_as(y)
                total += float(loss_fn(torch.from_numpy(y_hat), y, std)) * len(basin_ends)
                count += len(basin_ends)
                # KGE's bias term is not invariant to standardisation: score in store units.
                obs = self.plan.norm.unscale_target(block.y[i, basin_ends, :1], first)[:, 0]
                sim = self.plan.norm.unscale_target(y_hat[:, :1], first)[:, 0]
                by_basin[block.basins[i]] = (nse(obs, sim), kge(obs, sim))
        return total, count, by_basin
