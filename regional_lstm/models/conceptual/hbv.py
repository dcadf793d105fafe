"""HBV (Bergstrom 1992; HBV-96 as in Seibert 2005 and the delta-HBV of Feng et al. 2022, WRR 58).

Snow:      rain/snow split at TT; melt = CFMAX (T - TT) from the pack; refreezing
           CFR CFMAX (TT - T) of the liquid water it holds; liquid beyond CWH x pack to the soil.
Soil:      recharge = (rain + snowmelt) (SM / FC)^BETA; excess above FC; actual ET =
           PET min(1, SM / (LP FC))^BETAET, capped by SM.
Response:  upper zone SUZ gets recharge + excess, percolates PERC to the lower zone SLZ;
           Q0 = K0 ramp(SUZ - UZL), Q1 = K1 SUZ, Q2 = K2 SLZ.
Routing:   Q0 + Q1 + Q2 through a gamma unit hydrograph of shape ``route_a`` and scale
           ``route_b`` (days) over ``UH_DAYS`` days.

Smoothed: the rain/snow split is the tanh step (sharpness 5 per degC); every "max(0, x)" is a
`ramp` and every "take at most what the store holds" a `capped` over 0.01 mm, so no store goes
below empty and every parameter has a gradient; the balance closes exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from regional_lstm.models.conceptual.hydrographs import gamma_ordinates, route
from regional_lstm.models.conceptual.kinds import ConceptualKind, Fluxes, Parameter, State
from regional_lstm.models.conceptual.smooth import capped, ramp, tanh_step

WIDTH = 0.01  # mm (or mm/day): where the smoothed switches bend
UH_DAYS = 15
# The ranges of the delta-HBV code (mhpi/hydrodl2), routing's shape and scale as in its UH_gamma.
PARAMETERS = (
    Parameter("BETA", 1.0, 6.0, "-", "shape of the soil's recharge curve"),
    Parameter("FC", 50.0, 1000.0, "mm", "field capacity of the soil store"),
    Parameter("K0", 0.05, 0.9, "1/day", "recession of the upper zone's fast outflow"),
    Parameter("K1", 0.01, 0.5, "1/day", "recession of the upper zone"),
    Parameter("K2", 0.001, 0.2, "1/day", "recession of the lower zone"),
    Parameter("LP", 0.2, 1.0, "-", "fraction of FC above which ET is at its potential"),
    Parameter("PERC", 0.0, 10.0, "mm/day", "percolation from the upper to the lower zone"),
    Parameter("UZL", 0.0, 100.0, "mm", "upper-zone level above which fast outflow starts"),
    Parameter("TT", -2.5, 2.5, "degC", "threshold temperature of snowfall and melt"),
    Parameter("CFMAX", 0.5, 10.0, "mm/day/degC", "degree-day factor of melt"),
    Parameter("CFR", 0.0, 0.1, "-", "refreezing coefficient"),
    Parameter("CWH", 0.0, 0.2, "-", "liquid water the snowpack holds, per mm of pack"),
    Parameter("BETAET", 0.3, 5.0, "-", "shape of the ET reduction curve"),
    Parameter("route_a", 0.1, 3.0, "-", "shape of the gamma unit hydrograph"),
    Parameter("route_b", 0.5, 7.0, "day", "scale of the gamma unit hydrograph"),
)
STORES = ("snowpack", "meltwater", "SM", "SUZ", "SLZ")
INITIAL = tuple(Parameter(name, 0.0, 0.0, "mm", f"{name} at the start") for name in STORES)
FORCING = ("precipitation", "temperature", "pet")


def start(parameters: dict[str, Tensor], initial: dict[str, Tensor]) -> State:
    """Empty stores but a soil at half its field capacity, unless given."""
    fc = parameters["FC"]
    zeros = torch.zeros_like(fc)
    defaults = {"snowpack": zeros, "meltwater": zeros, "SM": 0.5 * fc, "SUZ": zeros, "SLZ": zeros}
    state = {name: initial.get(name, value) for name, value in defaults.items()}
    state["queue"] = torch.zeros((*fc.shape, UH_DAYS), dtype=fc.dtype, device=fc.device)
    return state


def day(state: State, forcing: dict[str, Tensor], p: dict[str, Tensor]) -> tuple[State, Fluxes]:
    precipitation, temperature, pet = (forcing[name] for name in FORCING)
    warm = tanh_step(temperature - p["TT"])
    rain, snow = precipitation * warm, precipitation * (1 - warm)
    pack = state["snowpack"] + snow
    melt = capped(p["CFMAX"] * ramp(temperature - p["TT"], WIDTH), pack, WIDTH)
    pack, liquid = pack - melt, state["meltwater"] + melt
    refreeze = capped(p["CFR"] * p["CFMAX"] * ramp(p["TT"] - temperature, WIDTH), liquid, WIDTH)
    pack, liquid = pack + refreeze, liquid - refreeze
    to_soil = capped(ramp(liquid - p["CWH"] * pack, WIDTH), liquid, WIDTH)
    liquid = liquid - to_soil

    water = rain + to_soil
    wetness = _fraction(state["SM"] / p["FC"]) ** p["BETA"]
    recharge = water * wetness
    sm = state["SM"] + water - recharge
    excess = ramp(sm - p["FC"], WIDTH)
    sm = sm - excess
    reduction = _fraction(sm / (p["LP"] * p["FC"])) ** p["BETAET"]
    evapotranspiration = capped(pet * reduction, sm, WIDTH)
    sm = sm - evapotranspiration

    suz = state["SUZ"] + recharge + excess
    percolation = capped(p["PERC"], suz, WIDTH)
    suz, slz = suz - percolation, state["SLZ"] + percolation
    q0 = p["K0"] * ramp(suz - p["UZL"], WIDTH)
    suz = suz - q0
    q1 = p["K1"] * suz
    suz = suz - q1
    q2 = p["K2"] * slz
    slz = slz - q2
    ordinates = p["ordinates"] if "ordinates" in p else prepare(p)["ordinates"]
    streamflow, queue = route(state["queue"], q0 + q1 + q2, ordinates)
    new = {"snowpack": pack, "meltwater": liquid, "SM": sm, "SUZ": suz, "SLZ": slz}
    fluxes = {
        "streamflow": streamflow,
        "outflow": streamflow,
        "evapotranspiration": evapotranspiration,
        "inflow": precipitation,
        "melt": melt,
    }
    return new | {"queue": queue}, fluxes


def _fraction(x: Tensor) -> Tensor:
    """x within [1e-6, 1]: at exactly 0, x ** BETA would give BETA a NaN gradient (0 * log 0)."""
    return torch.clamp(x, 1e-6, 1.0)


def prepare(parameters: dict[str, Tensor]) -> dict[str, Tensor]:
    """The routing's ordinates, when its shape and scale are fixed for the run."""
    if "route_a" not in parameters or "route_b" not in parameters:
        return {}
    return {"ordinates": gamma_ordinates(parameters["route_a"], parameters["route_b"], UH_DAYS)}


def storage(state: State) -> Tensor:
    return sum(state[name] for name in STORES) + state["queue"].sum(-1)


HBV = ConceptualKind("HBV", PARAMETERS, INITIAL, FORCING, start, day, storage, prepare)
