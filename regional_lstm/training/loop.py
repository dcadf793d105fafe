"""One training epoch, windowed prediction of basin blocks, and early stopping."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from regional_lstm.data.sampling import BasinBlock, gather_windows
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
) -> list[np.ndarray]:
    """Standardised predictions (n_ends, n_targets) for each basin's window ends.

    The model is put in eval mode unless ``stochastic`` (MC-dropout keeps its dropout on).
    """
    if not stochastic:
        model.eval()
    basin_idx = np.concatenate([np.full(len(e), i) for i, e in enumerate(ends)]).astype(np.int64)
    flat_ends = np.concatenate(ends).astype(np.int64)
    out = []
    for first in range(0, len(flat_ends), batch_size):
        part = slice(first, first + batch_size)
        batch = gather_windows(block, basin_idx[part], flat_ends[part], lookback)
        batch = {k: v.to(device) for k, v in batch.items()}
        out.append(model(batch)["y_hat"].float().cpu().numpy())
    n_targets = block.y.shape[-1]
    flat = np.concatenate(out) if out else np.empty((0, n_targets), np.float32)
    return np.split(flat, np.cumsum([len(e) for e in ends])[:-1])


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
