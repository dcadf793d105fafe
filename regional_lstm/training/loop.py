"""One training epoch and early stopping."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from regional_lstm.training.loss import LossFn


def train_epoch(
    model: nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn,
    clip_norm: float,
    device: torch.device,
) -> tuple[float, int]:
    """Fit one pass of ``batches``; return the summed loss and the number of batches."""
    model.train()
    total, steps = 0.0, 0
    for batch in batches:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        optimizer.zero_grad(set_to_none=True)
        y_hat = model(batch)["y_hat"]
        loss = loss_fn(y_hat, batch["y"], batch["target_std"])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += float(loss.detach())
        steps += 1
    return total, steps


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
