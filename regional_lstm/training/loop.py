"""One training epoch and early stopping."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from regional_lstm.accelerator import autocast, to_device
from regional_lstm.training.loss import LossFn, observed_counts

# On a CPU a batch runs forward and backward in parts of at most this many windows, their
# gradients summed before the one optimizer step (and the one DDP allreduce). Measured with the
# workers' malloc settings (benchmarks/cpu_step.py: 2 processes x 1 thread, batches of 256,
# lookback 365): against the whole batch, parts of 64 keep 0.28x of its work memory per worker
# (hidden 64: 176 MB instead of 629; hidden 256: 625 instead of 2,372) at 0.93-0.96x of its
# speed; parts of 128 run at the whole batch's speed with 0.47x of its memory. The memory is
# what lets two workers, the driver and Ray's processes fit in 2.5 GB at the 50-basin size.
CPU_MICRO_BATCH = 64


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
    micro_batch: int | None = None,
    rates: Sequence[float] | None = None,
) -> tuple[float, int]:
    """Fit one pass of ``batches``; return the summed loss and the number of batches.

    Forward and loss run under autocast in ``precision`` (the loss on float32 predictions);
    ``scaler`` scales fp16 losses; the last ``last_n`` days of each window are supervised.
    With ``micro_batch``, each batch runs forward and backward in parts of that many windows
    whose losses, divided by the whole batch's observed counts, add up to the batch's loss:
    the step is the same, its peak memory smaller. ``rates``, one per batch, set the optimizer's
    learning rate for each step (a schedule); without them it keeps its own.
    The loss is summed on the device and read once at the end:
    reading it every step would wait for the GPU and serialise the asynchronous copies.
    """
    model.train()
    scaler = scaler or grad_scaler(device, "none")
    total, steps = torch.zeros((), dtype=torch.float64, device=device), 0
    for step, batch in enumerate(batches):
        batch = to_device(batch, device)
        if rates is not None:
            for group in optimizer.param_groups:
                group["lr"] = rates[step]
        optimizer.zero_grad(set_to_none=True)
        parts = split_batch(batch, micro_batch)
        counts = observed_counts(batch["y"]) if len(parts) > 1 else None
        for i, part in enumerate(parts):
            # Under DDP only the last part's backward allreduces, the summed gradients.
            last = i == len(parts) - 1
            with nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
                with autocast(device, precision):
                    y_hat = model(part, last_n=last_n)["y_hat"]
                    loss = loss_fn(y_hat.float(), part["y"], part["target_std"], counts)
                scaler.scale(loss).backward()
            total += loss.detach()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        scaler.step(optimizer)  # skipped (and the scale lowered) when fp16 gradients overflow
        scaler.update()
        steps += 1
    return float(total), steps


def split_batch(batch: dict[str, torch.Tensor], size: int | None) -> list[dict[str, torch.Tensor]]:
    """``batch`` in consecutive parts of at most ``size`` windows (whole when ``size`` is None)."""
    n = len(batch["y"])
    if size is None or n <= size:
        return [batch]
    return [{k: v[i : i + size] for k, v in batch.items()} for i in range(0, n, size)]


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
