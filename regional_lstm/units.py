"""Unit strings as stores write them (CF style: ``mm/day``, ``km2``, ``degC``, ``m3/s``), converted.

One pint registry holds the units hydrological data come in, and only those: a unit outside it
(a typo, or a furlong) is refused by name rather than converted. Unit strings stay as written; pint
only reads them. A flow volume and a depth over the basin convert into each other through the
basin area (``m3/s`` <-> ``mm/day`` takes ``area_km2``), a mass of water and its depth through
water's density (``kg/m2/s`` <-> ``mm/day``).

Every conversion between these units is affine, so pint computes its scale and offset once and
they apply as ``values * scale + offset``: numbers, numpy arrays and pandas or xarray objects come
back as what they were, with their index.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pint

from regional_lstm.errors import RegionalLSTMError

Values = TypeVar("Values")

# In pint's definition syntax, with the values of pint's default registry. ``cfs`` is the one
# hydrology spelling pint lacks; CF's powers (m2, W m-2) are read by `_cf_powers`.
_DEFINITIONS = (
    "milli- = 1e-3 = m-",
    "centi- = 1e-2 = c-",
    "hecto- = 1e2 = h-",
    "kilo- = 1e3 = k-",
    "mega- = 1e6 = M-",
    "meter = [length] = m",
    "second = [time] = s",
    "gram = [mass] = g",
    "kelvin = [temperature] = K",
    "minute = 60 * second = min",
    "hour = 60 * minute = h",
    "day = 24 * hour = d",
    "inch = 0.0254 * meter = in",
    "foot = 12 * inch = ft",
    "mile = 5280 * foot = mi",
    "hectare = 1e4 * meter ** 2 = ha",
    "liter = 1e-3 * meter ** 3 = l = L",
    "degree_Celsius = kelvin; offset: 273.15 = degC",
    "degree_Fahrenheit = 5 / 9 * kelvin; offset: 233.15 + 200 / 9 = degF",
    "pascal = kilogram / meter / second ** 2 = Pa",
    "joule = kilogram * meter ** 2 / second ** 2 = J",
    "watt = joule / second = W",
    "cubic_foot_per_second = foot ** 3 / second = cfs",
)
_POWER = re.compile(r"(?<=[A-Za-z])(-?\d+)\b")


class UnitError(RegionalLSTMError, ValueError):
    """A unit string that names no known unit, or two units that do not convert."""


def _cf_powers(units: str) -> str:
    """``m2`` -> ``m**2``, ``W m-2`` -> ``W m**-2``: CF writes powers as trailing numbers."""
    return _POWER.sub(r"**\1", units)


_REGISTRY = pint.UnitRegistry(None, preprocessors=[_cf_powers])
for _definition in _DEFINITIONS:
    _REGISTRY.define(_definition)
_KNOWN = ", ".join(  # the symbols of the units (not the prefixes), for error messages
    _REGISTRY.get_symbol(line.split(" ")[0])
    for line in _DEFINITIONS
    if not line.split(" ")[0].endswith("-")
)
_AREA = _REGISTRY.Unit("km2")
_WATER = _REGISTRY.Quantity(1000.0, "kg/m3")  # water's density: 1 kg of it over 1 m2 is 1 mm deep
# (area power, density power): a flow volume <-> depth over the basin, a mass <-> depth of water.
_BRIDGES = [(area, water) for area in (0, 1, -1) for water in (0, 1, -1)]


def parse(units: str) -> pint.Unit:
    """The pint unit a string names; else a UnitError naming the string and any unknown unit."""
    if not units.strip():
        raise UnitError(f"{units!r} is not a unit expression")
    try:
        return _REGISTRY.parse_units(units)
    except pint.UndefinedUnitError as error:
        name = error.unit_names[0] if error.unit_names else units
        inside = f" in {units!r}" if name != units else ""
        raise UnitError(
            f"unknown unit {name!r}{inside} (units are built from {_KNOWN}, with the prefixes "
            "m, c, h, k, M and powers such as m2)"
        ) from None
    except (pint.PintError, ValueError, TypeError, SyntaxError):
        raise UnitError(f"{units!r} is not a unit expression") from None


def needs_area(from_units: str, to_units: str) -> bool:
    """Whether converting ``from_units`` to ``to_units`` goes through the basin area.

    A UnitError says why when there is no conversion at all, naming both units; identical
    strings need none, as in `convert`.
    """
    return from_units != to_units and _conversion(from_units, to_units).area_power != 0


def convert(
    values: Values, from_units: str, to_units: str, *, area_km2: object | None = None
) -> Values:
    """``values`` in ``from_units`` as ``to_units``; ``area_km2`` where one is a flow volume.

    Identical strings need no conversion, whatever they say (free text such as ``ISO date`` too).
    ``area_km2`` may be one area or an array of them that broadcasts against ``values``.
    """
    if from_units == to_units:
        return values
    conversion = _conversion(from_units, to_units)
    scale = conversion.scale
    if conversion.area_power:
        if area_km2 is None:
            raise UnitError(f"converting {from_units!r} to {to_units!r} needs the basin area")
        scale = scale / np.asarray(area_km2, dtype=np.float64) ** conversion.area_power
    return values * scale + conversion.offset if conversion.offset else values * scale


@dataclass(frozen=True)
class _Conversion:
    """``to = from * scale / area_km2 ** area_power + offset``."""

    scale: float
    offset: float
    area_power: int


@functools.cache
def _conversion(from_units: str, to_units: str) -> _Conversion:
    """The affine map between two units, through the basin area and water's density if need be.

    The scale is the ratio of the units' sizes in SI base units, so it carries no rounding from
    an offset; only temperatures have one, and pint places their zero.
    """
    try:
        source, target = parse(from_units), parse(to_units)
    except UnitError as error:
        raise UnitError(f"no conversion from {from_units!r} to {to_units!r}: {error}") from None
    for area_power, water_power in _BRIDGES:
        bridge = _REGISTRY.Quantity(1.0, _AREA) ** area_power * _WATER**water_power
        if source.dimensionality != (target * bridge.units).dimensionality:
            continue
        (source_size, _), (target_size, _) = map(_REGISTRY.get_root_units, (source, target))
        scale = source_size / target_size / bridge.to_root_units().magnitude
        offset = _REGISTRY.Quantity(0.0, source).to(target).magnitude if bridge.unitless else 0.0
        return _Conversion(float(scale), float(offset), area_power)
    raise UnitError(
        f"no conversion from {from_units!r} to {to_units!r} "
        f"({source.dimensionality} is not {target.dimensionality}, "
        "nor that times an area or a density)"
    )
