"""EXP-HYDRO (Patil and Stieglitz 2012, WRR 48; equations as in Hoge et al. 2022, HESS 26, 5085).

Two stores, snow S0 and soil water S1 (mm), in continuous time:

    dS0/dt = Ps - M                     Ps = step(Tmin - T) P,  Pr = step(T - Tmin) P
    dS1/dt = Pr + M - ET - Qb - Qs      M  = step(T - Tmax) step(S0) min(S0, Df (T - Tmax))
    ET = step(S1) [step(S1 - Smax) PET + step(Smax - S1) PET S1 / Smax]
    Qb = step(S1) [step(S1 - Smax) Qmax + step(Smax - S1) Qmax exp(-f (Smax - S1))]
    Qs = step(S1) step(S1 - Smax) (S1 - Smax)

with the published smooth step (tanh(5 x) + 1) / 2 for every threshold (`tanh_step`), T the
daily mean temperature and PET from Hamon. Each day [t-1, t] is integrated with classic
Runge-Kutta (RK4) in ``SUBSTEPS`` equal steps (``LEARNED_SUBSTEPS`` when a network learns the
parameters), the forcing interpolated linearly between the
two days' values (the reference solution interpolates daily forcing in time too). As published,
a day's ``streamflow`` is the runoff Qb + Qs from the stores at the end of the day (time t);
``outflow`` is the water that left during the day, with which the balance closes exactly.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from regional_lstm.models.conceptual.kinds import ConceptualKind, Fluxes, Parameter, State
from regional_lstm.models.conceptual.smooth import tanh_step as step

# RK4 steps a day: given parameters, 3 (NSE >= 0.9999 against a converged solution, see
# tests/test_simulate.py); learned regionally, 1 (>= 0.996, three times the speed).
SUBSTEPS, LEARNED_SUBSTEPS = 3, 1

PARAMETERS = (
    Parameter("f", 0.0, 0.3, "1/mm", "rate of decline of baseflow below a full bucket"),
    Parameter("Smax", 50.0, 3000.0, "mm", "capacity of the soil-water bucket"),
    Parameter("Qmax", 0.0, 100.0, "mm/day", "baseflow of a full bucket"),
    Parameter("Df", 0.0, 10.0, "mm/day/degC", "degree-day factor of snowmelt"),
    Parameter("Tmax", -1.0, 8.0, "degC", "temperature above which snow melts"),
    Parameter("Tmin", -6.0, 1.0, "degC", "temperature below which precipitation is snow"),
)
INITIAL = (
    Parameter("S0", 0.0, 0.0, "mm", "snow store at the start"),
    Parameter("S1", 0.0, 0.0, "mm", "soil-water store at the start (default: half of Smax)"),
)
FORCING = ("precipitation", "temperature", "pet")


def rates(s0: Tensor, s1: Tensor, forcing: dict[str, Tensor], p: dict[str, Tensor]) -> Fluxes:
    """The fluxes (mm/day) at one instant, from the stores and that instant's forcing."""
    precipitation, temperature, pet = (forcing[name] for name in FORCING)
    # step(-x) = 1 - step(x) for the tanh step: each threshold costs one tanh.
    wet, full = step(s1), step(s1 - p["Smax"])
    below = 1.0 - full
    # exp overflows for a bucket far above Smax, where the `below` step makes it vanish anyway.
    decline = torch.exp(torch.clamp(-p["f"] * (p["Smax"] - s1), max=50.0))
    warmth = temperature - p["Tmax"]
    snowfall = step(p["Tmin"] - temperature) * precipitation
    return {
        "snowfall": snowfall,
        "rainfall": precipitation - snowfall,
        "melt": step(warmth) * step(s0) * torch.minimum(s0, p["Df"] * warmth),
        "evapotranspiration": wet * pet * (full + below * s1 / p["Smax"]),
        "baseflow": wet * p["Qmax"] * (full + below * decline),
        "spill": wet * full * (s1 - p["Smax"]),
    }


def _derivatives(fluxes: Fluxes) -> tuple[Tensor, Tensor]:
    ds0 = fluxes["snowfall"] - fluxes["melt"]
    ds1 = (
        fluxes["rainfall"]
        + fluxes["melt"]
        - fluxes["evapotranspiration"]
        - fluxes["baseflow"]
        - fluxes["spill"]
    )
    return ds0, ds1


def start(parameters: dict[str, Tensor], initial: dict[str, Tensor]) -> State:
    """The stores at the start: given ones, else no snow and a half-full bucket."""
    s1 = initial.get("S1", 0.5 * parameters["Smax"])
    return {"S0": initial.get("S0", torch.zeros_like(s1)), "S1": s1}


def day(
    state: State, forcing: dict[str, Tensor], p: dict[str, Tensor], substeps: int = SUBSTEPS
) -> tuple[State, Fluxes]:
    """Integrate from the previous day to this one in ``substeps`` RK4 steps; the fluxes are
    the interval's means (mm/day). The first day of a run is the initial time point: no
    interval, the runoff of the initial stores (as the reference solution starts)."""
    s0, s1 = state["S0"], state["S1"]
    carried = {f"last_{name}": forcing[name] for name in FORCING}
    if "last_precipitation" not in state:
        fluxes = {
            name: torch.zeros_like(value) for name, value in rates(s0, s1, forcing, p).items()
        }
        return {"S0": s0, "S1": s1, **carried}, _with_totals(fluxes, s0, s1, forcing, p)
    before = {name: state[f"last_{name}"] for name in FORCING}
    h = 1.0 / substeps
    totals: Fluxes = {}
    for k in range(substeps):
        stages = []
        forcing_at = {}  # the two middle stages share their time
        for fraction, weight in ((0.0, 1.0), (0.5, 2.0), (0.5, 2.0), (1.0, 1.0)):
            if fraction not in forcing_at:
                t = (k + fraction) * h
                forcing_at[fraction] = {
                    name: before[name] + t * (forcing[name] - before[name]) for name in FORCING
                }
            at = forcing_at[fraction]
            if stages:
                d0, d1 = stages[-1][1]
                fluxes = rates(s0 + fraction * h * d0, s1 + fraction * h * d1, at, p)
            else:
                fluxes = rates(s0, s1, at, p)
            stages.append((weight, _derivatives(fluxes), fluxes))
        s0 = s0 + h / 6.0 * sum(w * d[0] for w, d, _ in stages)
        s1 = s1 + h / 6.0 * sum(w * d[1] for w, d, _ in stages)
        for weight, _, fluxes in stages:
            for name, value in fluxes.items():
                totals[name] = totals.get(name, 0.0) + (h / 6.0 * weight) * value
    return {"S0": s0, "S1": s1, **carried}, _with_totals(totals, s0, s1, forcing, p)


def _with_totals(
    fluxes: Fluxes, s0: Tensor, s1: Tensor, forcing: dict[str, Tensor], p: dict[str, Tensor]
) -> Fluxes:
    """The interval's water in and out, and the runoff of the stores at its end."""
    end = rates(s0, s1, forcing, p)
    return fluxes | {
        "inflow": fluxes["snowfall"] + fluxes["rainfall"],
        "outflow": fluxes["baseflow"] + fluxes["spill"],
        "streamflow": end["baseflow"] + end["spill"],
    }


def storage(state: State) -> Tensor:
    return state["S0"] + state["S1"]


EXPHYDRO = ConceptualKind(
    "EXPHYDRO",
    PARAMETERS,
    INITIAL,
    FORCING,
    start,
    day,
    storage,
    learned_day=functools.partial(day, substeps=LEARNED_SUBSTEPS),
)
