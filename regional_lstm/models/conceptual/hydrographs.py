"""Unit hydrographs as queues of future outflow, so the water in transit is a store."""

from __future__ import annotations

import torch
from torch import Tensor


def gr4j_ordinates(x4: Tensor, length: int, spread: float) -> Tensor:
    """GR4J's unit hydrograph UH1 (``spread`` 1) or UH2 (``spread`` 2) for time base ``x4``
    days (Perrin et al. 2003, J. Hydrol. 279): differences of the S-curves
    SH1(t) = (t/X4)^2.5 up to X4, and SH2(t) = (t/X4)^2.5 / 2 up to X4, 1 - (2 - t/X4)^2.5 / 2
    up to 2 X4. Returns (..., length) ordinates summing to 1 (``length`` >= spread X4).
    """
    t = torch.arange(length + 1, dtype=x4.dtype, device=x4.device)
    fraction = torch.clamp(t / x4.unsqueeze(-1), 0.0, spread)
    if spread == 1:
        curve = fraction**2.5
    else:
        rising = 0.5 * torch.clamp(fraction, max=1.0) ** 2.5
        falling = 1.0 - 0.5 * torch.clamp(2.0 - fraction, min=0.0) ** 2.5
        curve = torch.where(fraction <= 1.0, rising, falling)
    return curve[..., 1:] - curve[..., :-1]


def gamma_ordinates(shape: Tensor, scale: Tensor, length: int) -> Tensor:
    """A gamma-distribution unit hydrograph (as delta-HBV routes its runoff, Feng et al. 2022):
    the density at day midpoints 0.5, 1.5, ..., normalised to sum to 1 over ``length`` days."""
    t = torch.arange(length, dtype=shape.dtype, device=shape.device) + 0.5
    a, theta = shape.unsqueeze(-1), scale.unsqueeze(-1)
    log_density = (a - 1) * torch.log(t) - t / theta - torch.lgamma(a) - a * torch.log(theta)
    return torch.softmax(log_density, dim=-1)


def route(queue: Tensor, inflow: Tensor, ordinates: Tensor) -> tuple[Tensor, Tensor]:
    """Add today's ``inflow`` spread by ``ordinates`` to the ``queue`` of outflow to come;
    return today's outflow and the queue moved on by a day (its sum is the water in transit)."""
    queue = queue + inflow.unsqueeze(-1) * ordinates
    outflow = queue[..., 0]
    return outflow, torch.cat([queue[..., 1:], torch.zeros_like(queue[..., :1])], dim=-1)
