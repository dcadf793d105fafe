"""Smooth stand-ins for the thresholds of conceptual models, so gradients exist everywhere.

A hard threshold (rain or snow, a bucket spilling over) has a zero gradient on one side and
none at the switch: a parameter network learning through it gets no signal there. Each function
here matches its hard twin away from the switch and bends over a width the caller names (in the
units of its argument), which the model documentation states.
"""

from __future__ import annotations

import torch
from torch import Tensor


def tanh_step(x: Tensor, sharpness: float = 5.0) -> Tensor:
    """(tanh(sharpness x) + 1) / 2: 0 below the switch, 1 above, 0.5 at it.

    EXP-HYDRO's step (Patil and Stieglitz 2012; Hoge et al. 2022, HESS 26, 5085, with
    sharpness 5 per unit of x), kept as published so calibrated parameters carry over.
    """
    return 0.5 * (torch.tanh(sharpness * x) + 1.0)


def ramp(x: Tensor, width: float) -> Tensor:
    """A smooth max(x, 0): softplus over ``width``; >= max(x, 0), within 0.7 width of it."""
    return width * torch.nn.functional.softplus(x / width)


def capped(demand: Tensor, available: Tensor, width: float) -> Tensor:
    """A smooth min(demand, available) that never takes more than is available.

    ``available - ramp(available - demand)``: what is left, ``ramp(...)``, is never negative,
    so a store drained by this flux stays >= 0 (the flux itself may dip ~0.7 width below 0 when
    both are near 0, a gain the store's balance still records exactly).
    """
    return available - ramp(available - demand, width)
