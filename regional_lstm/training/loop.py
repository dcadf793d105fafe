"""One training epoch and early stopping."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from regional_lstm.accelerator import autocast, to_device
from regional_lstm.training.loss import LossFn


def train_epoch(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    clip_norm: float,
    device: torch.device,
    *,
    precision: str = "none",
    scaler: torch.amp.GradScaler | None = None,
    last_n: int = 1,
) -> tuple[float, int]:
    """Fit one pass of ``batches``; return the summed loss and the number of batches.

    Forward and loss run under autocast in ``precision`` (the loss on float32 predictions);
    ``scaler`` scales fp16 losses; the last ``last_n`` days of each window are supervised.
    The loss is summed on the device and read once at the end:
    reading it every step would wait for the GPU and serialise the asynchronous copies.
    """
    model.train()
    scaler = scaler or grad_scaler(device, "none")
    total, steps = torch.zeros((), dtype=torch.float64, device=device), 0
    for batch in batches:
        batch = to_device(batch, device)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, precision):
            y_hat = model(batch, last_n=last_n)["y_hat"]
            loss = loss_fn(y_hat.float(), batch["y"], batch["target_std"])
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        scaler.step(optimizer)  # skipped (and the scale lowered) when fp16 gradients overflow
        scaler.update()
        total += loss.detach()
        steps += 1
    return float(total), steps


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """The loss scaler fp16 needs (its small gradients underflow); disabled, a no-op, otherwise."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without a better (higher) validation metric."""

    patience: int
    best: float = -np.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def update(self, metric: float, epoch: int) -> bool:
        """Record an epoch's metric; True when it is the best so far."""
        if np.isfinite(metric) and metric > self.best:
            self.best, self.best_epoch, self.bad_epochs = float(metric), epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_epochs >= self.patience
