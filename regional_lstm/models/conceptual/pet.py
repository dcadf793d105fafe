"""Potential evapotranspiration computed from the inputs a store has."""

from __future__ import annotations

import torch
from torch import Tensor


def hamon(temperature_c: Tensor, day_length_h: Tensor) -> Tensor:
    """Hamon (1963) PET in mm/day from mean air temperature (degC) and day length (hours).

    PET = 29.8 D e_s(T) / (T + 273.2), with e_s = 0.611 exp(17.3 T / (T + 237.3)) the saturation
    vapour pressure in kPa: the form EXP-HYDRO uses (Patil and Stieglitz 2012; Hoge et al. 2022).
    """
    saturation_kpa = 0.611 * torch.exp(17.3 * temperature_c / (temperature_c + 237.3))
    return 29.8 * day_length_h * saturation_kpa / (temperature_c + 273.2)
