"""Conceptual models: water balance, gradients under extreme forcing, the smooth thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from regional_lstm.models.conceptual.pet import hamon
from regional_lstm.models.conceptual.simulate import simulate
from regional_lstm.models.conceptual.smooth import capped, ramp
from regional_lstm.registry import CONCEPTUAL_MODELS

KINDS = [CONCEPTUAL_MODELS[name] for name in CONCEPTUAL_MODELS]


def synthetic_weather(basins: int, days: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seasonal temperature (snow in winter), intermittent storms, Hamon PET: float64."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    season = np.cos(2 * np.pi * (t - 200) / 365.25)
    temperature = 5 + 15 * season + rng.normal(0, 3, (basins, days))
    storms = rng.random((basins, days)) < 0.3
    precipitation = storms * rng.gamma(0.8, 12.0, (basins, days))
    day_length = 12 + 3 * season
    as_tensor = lambda values: torch.tensor(np.broadcast_to(values, (basins, days)).copy())  # noqa: E731
    forcing = {"precipitation": as_tensor(precipitation), "temperature": as_tensor(temperature)}
    forcing["pet"] = hamon(forcing["temperature"], as_tensor(day_length))
    return forcing


def middle_parameters(kind, basins: int, parallel: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Parameters drawn uniformly within each one's bounds: (basins, parallel) float64."""
    generator = torch.Generator().manual_seed(seed)
    return {
        p.name: p.low
        + (p.high - p.low) * torch.rand(basins, parallel, generator=generator, dtype=torch.float64)
        for p in kind.parameters
    }


def test_hamon_pet_is_the_published_formula():
    # 29.8 * 12 h * 0.611 exp(17.3 * 20 / 257.3) / 293.2 mm/day
    expected = 29.8 * 12 * 0.611 * math.exp(17.3 * 20 / 257.3) / 293.2
    assert hamon(torch.tensor(20.0), torch.tensor(12.0)).item() == pytest.approx(expected)
    assert 2.5 < expected < 3.5  # a warm day's few mm


def test_capped_takes_no_more_than_is_available():
    demand = torch.linspace(-5, 50, 200).repeat(200)
    available = torch.linspace(0, 40, 200).repeat_interleave(200)
    taken = capped(demand, available, width=0.01)
    assert (available - taken >= 0).all()
    assert torch.allclose(taken, torch.minimum(demand, available), atol=0.01)
    assert (ramp(torch.linspace(-3, 3, 61), 0.01) >= 0).all()


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_water_balance_closes_over_years(kind):
    """Inflow = outflow + evapotranspiration + change in storage, day by day and in total."""
    forcing = synthetic_weather(basins=5, days=2 * 365)
    parameters = middle_parameters(kind, basins=5, parallel=4)
    start = kind.start(parameters, {})
    names = ("inflow", "outflow", "evapotranspiration")
    fluxes, end = simulate(kind, forcing, parameters, fluxes=names)
    gained = kind.storage(end) - kind.storage(start)
    totals = {name: fluxes[name].sum(dim=1) for name in names}
    residual = totals["inflow"] - totals["outflow"] - totals["evapotranspiration"] - gained
    assert totals["inflow"].min() > 700  # mm: two years of real weather went through
    assert residual.abs().max() < 1e-9 * totals["inflow"].max()
    assert (fluxes["outflow"] > 0).any() and (fluxes["evapotranspiration"] > 0).any()
    # Smooth thresholds let a store dip a little below empty before its fluxes stop.
    assert min(value.min() for name, value in end.items() if not name.startswith("last_")) > -1


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
@pytest.mark.parametrize(
    ("precipitation", "temperature"),
    [(0.0, -40.0), (0.0, 45.0), (500.0, -40.0), (500.0, 45.0)],
    ids=["dry-frozen", "dry-hot", "deluge-frozen", "deluge-hot"],
)
def test_gradients_are_finite_for_every_parameter_under_extreme_forcing(
    kind, precipitation, temperature
):
    days = 60  # in float32, as training runs: a store dried out to 0.0 once made NaN gradients
    forcing = {
        "precipitation": torch.full((3, days), precipitation),
        "temperature": torch.full((3, days), temperature),
    }
    forcing["pet"] = hamon(forcing["temperature"], torch.full((3, days), 14.0))
    parameters = {
        name: value.float().requires_grad_()
        for name, value in middle_parameters(kind, 3, 2).items()
    }
    fluxes, _ = simulate(kind, forcing, parameters)
    assert torch.isfinite(fluxes["streamflow"]).all()
    fluxes["streamflow"].sum().backward()
    for name, value in parameters.items():
        assert value.grad is not None and torch.isfinite(value.grad).all(), name
