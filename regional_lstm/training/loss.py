"""Losses over batches with missing targets, summed over targets with per-target weights."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from regional_lstm.data.sampling import TARGET_STD_EPS

LossFn = Callable[..., torch.Tensor]  # (y_hat, y, target_std, counts=None) -> scalar


def observed_counts(y: torch.Tensor) -> torch.Tensor:
    """Observed values per target in a batch of targets ((B, T) or (B, N, T)): a loss's divisor."""
    return (~torch.isnan(y)).reshape(-1, y.shape[-1]).sum(dim=0)


def _masked_weighted_mean(
    errors: torch.Tensor, valid: torch.Tensor, weights: torch.Tensor, counts: torch.Tensor | None
):
    """Mean error per target over its observed samples (and days, for sequences of the last
    N days), then the weighted sum over targets.

    ``counts`` (default: this batch's observed values per target) is the divisor: given the
    counts of a whole batch, the losses of its parts add up to the loss of the batch.
    """
    errors, valid = errors.reshape(-1, errors.shape[-1]), valid.reshape(-1, valid.shape[-1])
    counts = valid.sum(dim=0) if counts is None else counts
    per_target = (errors * valid).sum(dim=0) / counts.clamp(min=1)
    return (per_target * weights).sum()


def nse_star(weights: Sequence[float], eps: float = TARGET_STD_EPS) -> LossFn:
    """Basin-normalised squared error (Kratzert et al. 2019): (y_hat - y)^2 / (s_b + eps)^2.

    s_b is the basin's std of the standardised target, so wet and dry basins weigh alike.
    """
    w = torch.tensor(list(weights), dtype=torch.float32)

    def loss(
        y_hat: torch.Tensor,
        y: torch.Tensor,
        target_std: torch.Tensor,
        counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        valid = ~torch.isnan(y)
        if y.dim() == 3:  # (batch, last_n, target): each day of a window has its basin's spread
            target_std = target_std.unsqueeze(1)
        scale = (target_std + eps) ** 2
        errors = (y_hat - torch.nan_to_num(y)) ** 2 / scale
        return _masked_weighted_mean(errors, valid, w.to(y.device), counts)

    return loss


def mse(weights: Sequence[float]) -> LossFn:
    """Mean squared error of the standardised targets: (y_hat - y)^2."""
    w = torch.tensor(list(weights), dtype=torch.float32)

    def loss(
        y_hat: torch.Tensor,
        y: torch.Tensor,
        target_std: torch.Tensor,
        counts: torch.Tensor | None = None,
    ) -> torch.Tensor:
        valid = ~torch.isnan(y)
        errors = (y_hat - torch.nan_to_num(y)) ** 2
        return _masked_weighted_mean(errors, valid, w.to(y.device), counts)

    return loss


LOSSES: dict[str, Callable[[Sequence[float]], LossFn]] = {"nse": nse_star, "mse": mse}
