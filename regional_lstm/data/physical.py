"""Which store variables give a conceptual model its physical inputs, and in which units.

A conceptual model needs precipitation (mm/day), air temperature (degC) and either a potential
evapotranspiration (mm/day) or the day length (hours) to compute one (Hamon). PHYSICAL_INPUTS may
name the variables; otherwise the usual names of CAMELS-US, CAMELS-CH, Caravan and the CSV
mappings are looked up, and a daily mean temperature may be the mean of minimum and maximum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError
from regional_lstm.units import UnitError, convert

ROLE_UNITS = {"precipitation": "mm/day", "temperature": "degC", "pet": "mm/day", "day_length": "h"}
# Looked up in this order when PHYSICAL_INPUTS does not name a role: a name, or a pair averaged.
USUAL_NAMES: dict[str, tuple[tuple[str, ...], ...]] = {
    "precipitation": (("prcp",), ("precipitation",), ("total_precipitation_sum",)),
    "temperature": (
        ("tmean",),
        ("temperature_mean",),
        ("temperature_2m_mean",),
        ("tmin", "tmax"),
        ("temperature_min", "temperature_max"),
        ("temperature_2m_min", "temperature_2m_max"),
    ),
    "pet": (("pet",), ("potential_evaporation_sum",), ("pet_sim",)),
    "day_length": (("dayl",), ("day_length",)),
}


@dataclass(frozen=True)
class PhysicalInput:
    """A role's value: the mean of ``variables`` (store units) times ``scale`` plus ``offset``."""

    role: str
    variables: tuple[str, ...]
    scale: float
    offset: float


def physical_inputs(
    reader: StoreReader,
    roles: Sequence[str],
    named: Mapping[str, str | list[str]] | None = None,
    allowed: Sequence[str] | None = None,
) -> dict[str, PhysicalInput]:
    """Resolve each of ``roles`` to store variables; ``pet`` falls back to ``day_length`` and
    ``temperature``, from which Hamon's PET is computed.

    ``named`` is PHYSICAL_INPUTS; ``allowed`` (the DYNAMIC_INPUTS of a trained model) limits the
    variables to those a model sees. A role nothing provides is a one-line ConfigError.
    """
    named = dict(named or {})
    unknown = sorted(set(named) - set(ROLE_UNITS))
    if unknown:
        raise ConfigError(
            f"PHYSICAL_INPUTS: unknown role {unknown[0]!r} (roles: {', '.join(ROLE_UNITS)})"
        )
    wanted = list(roles)
    if "pet" in wanted and _find(reader, "pet", named, allowed) is None:
        wanted[wanted.index("pet")] = "day_length"  # Hamon's PET needs temperature too
        wanted += [] if "temperature" in wanted else ["temperature"]
    resolved = {}
    for role in wanted:
        variables = _find(reader, role, named, allowed)
        if variables is None:
            raise ConfigError(_nothing_for(role, roles, allowed))
        resolved[role] = _in_role_units(reader, role, variables)
    return resolved


def _find(
    reader: StoreReader,
    role: str,
    named: Mapping[str, str | list[str]],
    allowed: Sequence[str] | None,
) -> tuple[str, ...] | None:
    usable = set(reader.dims) if allowed is None else set(allowed) & set(reader.dims)
    if role in named:
        variables = named[role]
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        absent = [name for name in variables if name not in usable]
        if absent:
            where = "DYNAMIC_INPUTS" if allowed is not None else f"the store {reader.path}"
            raise ConfigError(f"PHYSICAL_INPUTS: {role}: {absent[0]!r} is not in {where}")
        return variables
    return next((names for names in USUAL_NAMES[role] if set(names) <= usable), None)


def _in_role_units(reader: StoreReader, role: str, variables: tuple[str, ...]) -> PhysicalInput:
    units = {reader.units[name] for name in variables}
    if len(units) > 1:
        raise ConfigError(f"PHYSICAL_INPUTS: {role}: {variables} have different units {units}")
    (store_units,) = units
    try:
        offset = float(convert(0.0, store_units, ROLE_UNITS[role]))
        scale = float(convert(1.0, store_units, ROLE_UNITS[role])) - offset
    except UnitError as error:
        raise ConfigError(f"PHYSICAL_INPUTS: {role} from {variables[0]!r}: {error}") from None
    return PhysicalInput(role, variables, scale, offset)


def _nothing_for(role: str, roles: Sequence[str], allowed: Sequence[str] | None) -> str:
    tried = ", ".join("+".join(names) for names in USUAL_NAMES[role])
    where = "DYNAMIC_INPUTS" if allowed is not None else "the store"
    also = " (and no pet either)" if role == "day_length" and "pet" in roles else ""
    return (
        f"PHYSICAL_INPUTS: nothing in {where} gives {role}{also}; tried {tried}: name the "
        f"variable(s) as PHYSICAL_INPUTS: {{{role}: NAME}}"
    )
