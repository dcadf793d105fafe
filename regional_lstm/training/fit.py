"""The training loop of one worker: epochs, validation, early stopping, checkpoints.

Plain PyTorch. Ray (or a test) hands in a ``WorkerContext`` with the rank, a way to gather
values from all ranks, a model wrapper (DDP), a report callback and a checkpoint to resume from;
without Ray the defaults make this a single-process trainer.
"""

from __future__ import annotations

import copy
import logging
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from regional_lstm.accelerator import check_precision, configure_device
from regional_lstm.artifacts import load_weights
from regional_lstm.data.pool import TrainSampler
from regional_lstm.data.reader import StoreReader
from regional_lstm.models import build_model, freeze
from regional_lstm.training.checkpoint import read_checkpoint, write_checkpoint
from regional_lstm.training.loop import CPU_MICRO_BATCH, EarlyStopping, grad_scaler, train_epoch
from regional_lstm.training.loss import LOSSES
from regional_lstm.training.plan import TrainingPlan
from regional_lstm.training.schedule import epoch_rates
from regional_lstm.training.validation import ValidationSet, median_scores

logger = logging.getLogger(__name__)


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


def micro_batch(model: torch.nn.Module, device: torch.device) -> int | None:
    """CPU_MICRO_BATCH on a CPU, unless the model asks for whole batches: a day-by-day
    conceptual model's cost is per operation, not per window, so parts would multiply it."""
    whole = getattr(getattr(model, "module", model), "whole_batches", False)
    return CPU_MICRO_BATCH if device.type == "cpu" and not whole else None


def seed_everything(seed: int) -> None:
    """Same seed, same config, same data, one worker: identical results on CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def fit(plan: TrainingPlan, ctx: WorkerContext) -> dict[str, Any]:
    """Train until ``epochs`` or early stopping; returns the final JSON state.

    The fp16 loss scale is part of that state, so a resumed run continues with it.
    """
    check_precision(plan.mixed_precision, ctx.device)
    configure_device(ctx.device)
    seed_everything(plan.seed)
    reader = StoreReader(plan.store)
    model = build_model(plan.model)
    if plan.initial_weights is not None:
        load_weights(model, plan.initial_weights, "the model being fine-tuned")
    freeze(model, plan.frozen)
    model = ctx.wrap_model(model.to(ctx.device))
    core = getattr(model, "module", model)
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad],
        lr=plan.learning_rate,
        weight_decay=plan.weight_decay,
    )
    early = EarlyStopping(plan.patience)
    scaler = grad_scaler(ctx.device, plan.mixed_precision)
    state: dict[str, Any] = {"epoch": 0, "history": [], "stopped_early": False}
    best_weights = copy.deepcopy(core.state_dict())
    if ctx.resume_from is not None:
        weights, best_weights, optimizer_state, state = read_checkpoint(ctx.resume_from)
        core.load_state_dict(weights)
        optimizer.load_state_dict(optimizer_state)
        early = EarlyStopping(plan.patience, **state["early_stopping"])
        if "grad_scaler" in state:
            scaler.load_state_dict(state["grad_scaler"])
        logger.info(f"Resuming from epoch {state['epoch']} ({ctx.resume_from})")
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
        target_std=plan.target_std,
        last_n=plan.predict_last_n,
        lag_dropout=plan.lag_dropout,
    )
    loss_fn = LOSSES[plan.loss](plan.loss_weights)
    scored = list(plan.validation_basins or plan.basins)
    validation = ValidationSet(reader, plan, scored[ctx.rank :: ctx.world_size])
    for epoch in range(state["epoch"], plan.epochs):
        if state["stopped_early"]:
            break
        started = time.perf_counter()
        total, steps = train_epoch(
            model,
            sampler.epoch(epoch),
            optimizer,
            loss_fn,
            plan.gradient_clip,
            ctx.device,
            precision=plan.mixed_precision,
            scaler=scaler,
            last_n=plan.predict_last_n,
            micro_batch=micro_batch(model, ctx.device),
            rates=epoch_rates(
                plan.lr_schedule, plan.learning_rate, epoch, plan.epochs, sampler.steps_per_epoch
            ),
        )
        # Validation uses the unwrapped model: ranks hold different basins, so their forward
        # counts differ, and a DDP forward may broadcast buffers (a collective) on each call.
        trained = time.perf_counter()
        local = (total, steps, *validation.evaluate(core, loss_fn, ctx.device))
        train_loss, val_loss, scores = _combine(ctx.all_gather(local))
        median_nse, median_kge = median_scores(scores)
        score = median_nse if plan.selection_metric == "nse" else median_kge
        if early.update(score, epoch):
            best_weights = copy.deepcopy(core.state_dict())
        logger.info(
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
            "train_seconds": trained - started,  # rank 0's: ranks step together
            "epoch_seconds": time.perf_counter() - started,
        }
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        state["early_stopping"] = {
            "best": early.best,
            "best_epoch": early.best_epoch,
            "bad_epochs": early.bad_epochs,
        }
        if early.should_stop:
            logger.info(f"Early stopping triggered at epoch {epoch + 1}")
        state["stopped_early"] = early.should_stop
        if scaler.is_enabled():
            state["grad_scaler"] = scaler.state_dict()  # plain numbers: JSON keeps them exactly
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
