"""GR4J (Perrin, Michel and Andreassian 2003, J. Hydrol. 279, 275-289), daily.

    Pn = ramp(P - E), En = ramp(E - P)       net rainfall / evaporative demand (Pn - En = P - E)
    Ps = X1 (1 - (S/X1)^2) tanh(Pn/X1) / (1 + S/X1 tanh(Pn/X1))          into the production store
    Es = S (2 - S/X1) tanh(En/X1) / (1 + (1 - S/X1) tanh(En/X1))          evaporation from it
    Perc = S (1 - (1 + (4 S / (9 X1))^4)^(-1/4))                          percolation
    Pr = Perc + Pn - Ps: 90 % through UH1 (time base X4), 10 % through UH2 (2 X4)
    F = X2 (R/X3)^3.5                                                     groundwater exchange
    R = ramp(R + Q9 + F); Qr = R (1 - (1 + (R/X3)^4)^(-1/4)); Qd = ramp(Q1 + F); Q = Qr + Qd

Smoothed: the P/E switch and the two "max(0, .)" are `ramp`s over 0.01 mm, so the exchange a
day applies is what changes the stores (recorded as ``exchange``, part of ``inflow``). No snow
routine: snow-dominated basins are GR4J's known weakness (CemaNeige is the usual add-on).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from regional_lstm.models.conceptual.hydrographs import gr4j_ordinates, route
from regional_lstm.models.conceptual.kinds import ConceptualKind, Fluxes, Parameter, State
from regional_lstm.models.conceptual.smooth import ramp

WIDTH = 0.01  # mm: where the smoothed switches bend
PARAMETERS = (
    Parameter("X1", 10.0, 1500.0, "mm", "capacity of the production store"),
    Parameter("X2", -5.0, 3.0, "mm/day", "groundwater exchange coefficient (< 0: losses)"),
    Parameter("X3", 10.0, 500.0, "mm", "capacity of the routing store"),
    Parameter("X4", 0.5, 4.0, "day", "time base of unit hydrograph UH1"),
)
INITIAL = (
    Parameter("S", 0.0, 0.0, "mm", "production store at the start (default: X1 / 2)"),
    Parameter("R", 0.0, 0.0, "mm", "routing store at the start (default: X3 / 2)"),
)
FORCING = ("precipitation", "pet")
UH_DAYS = math.ceil(2 * PARAMETERS[3].high)  # UH2 spans 2 X4 days at most


def start(parameters: dict[str, Tensor], initial: dict[str, Tensor]) -> State:
    """Half-full stores and empty unit hydrographs, unless given."""
    x1, x3 = parameters["X1"], parameters["X3"]
    queue = torch.zeros((*x1.shape, UH_DAYS), dtype=x1.dtype, device=x1.device)
    return {
        "S": initial.get("S", 0.5 * x1),
        "R": initial.get("R", 0.5 * x3),
        "uh1": queue,
        "uh2": queue.clone(),
    }


def day(state: State, forcing: dict[str, Tensor], p: dict[str, Tensor]) -> tuple[State, Fluxes]:
    precipitation, pet = forcing["precipitation"], forcing["pet"]
    x1, x2, x3 = p["X1"], p["X2"], p["X3"]
    s, r = state["S"], state["R"]
    net_rain, net_demand = ramp(precipitation - pet, WIDTH), ramp(pet - precipitation, WIDTH)
    filled = s / x1
    rain_tanh, demand_tanh = torch.tanh(net_rain / x1), torch.tanh(net_demand / x1)
    to_store = x1 * (1 - filled**2) * rain_tanh / (1 + filled * rain_tanh)
    from_store = s * (2 - filled) * demand_tanh / (1 + (1 - filled) * demand_tanh)
    s = s - from_store + to_store
    percolation = s * (1 - (1 + (4 * s / (9 * x1)) ** 4) ** -0.25)
    s = s - percolation
    effective = percolation + net_rain - to_store
    ordinates = p if "uh1" in p else prepare(p)
    q9, uh1 = route(state["uh1"], 0.9 * effective, ordinates["uh1"])
    q1, uh2 = route(state["uh2"], 0.1 * effective, ordinates["uh2"])
    exchange = x2 * torch.clamp(r / x3, min=0.0) ** 3.5
    routed_before = r + q9
    r = ramp(routed_before + exchange, WIDTH)
    routed = r * (1 - (1 + (r / x3) ** 4) ** -0.25)
    r = r - routed
    direct = ramp(q1 + exchange, WIDTH)
    applied = (r + routed - routed_before) + (direct - q1)  # the exchange the stores saw
    evaporation = (precipitation - net_rain) + from_store  # intercepted, then from the store
    fluxes = {
        "streamflow": routed + direct,
        "outflow": routed + direct,
        "evapotranspiration": evaporation,
        "exchange": applied,
        "inflow": precipitation + applied,
    }
    return {"S": s, "R": r, "uh1": uh1, "uh2": uh2}, fluxes


def prepare(parameters: dict[str, Tensor]) -> dict[str, Tensor]:
    """The ordinates of UH1 and UH2, when X4 is fixed for the run."""
    if "X4" not in parameters:
        return {}
    x4 = parameters["X4"]
    return {"uh1": gr4j_ordinates(x4, UH_DAYS, 1), "uh2": gr4j_ordinates(x4, UH_DAYS, 2)}


def storage(state: State) -> Tensor:
    return state["S"] + state["R"] + state["uh1"].sum(-1) + state["uh2"].sum(-1)


GR4J = ConceptualKind("GR4J", PARAMETERS, INITIAL, FORCING, start, day, storage, prepare)
