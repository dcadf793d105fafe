"""The model fields of a conceptual HYDROLOGICAL_MODEL, fixed when a training is planned."""

from __future__ import annotations

from regional_lstm.config import Config
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.physical import physical_inputs
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec
from regional_lstm.errors import ConfigError
from regional_lstm.registry import CONCEPTUAL_MODELS
from regional_lstm.units import UnitError, convert


def conceptual_spec_fields(
    config: Config, reader: StoreReader, data: DataSpec, norm: Normalization
) -> dict:
    """The `ModelSpec` fields of a conceptual HYDROLOGICAL_MODEL: where each physical input is
    among the model's inputs and how to undo their standardisation into its units, and how
    to standardise its streamflow (mm/day) as the target is."""
    kind = CONCEPTUAL_MODELS[config.HYDROLOGICAL_MODEL]
    inputs = physical_inputs(reader, kind.inputs, config.PHYSICAL_INPUTS, config.DYNAMIC_INPUTS)
    scale = [1.0] * len(data.inputs)
    offset = [0.0] * len(data.inputs)
    index = {}
    for role, source in inputs.items():
        index[role] = tuple(data.inputs.index(name) for name in source.variables)
        for name in source.variables:
            i = data.inputs.index(name)
            std, mean = norm.dynamic_std[name], norm.dynamic_mean[name]
            scale[i], offset[i] = std * source.scale, mean * source.scale + source.offset
    units = reader.units.get("streamflow", "mm/day")
    try:
        to_store = float(convert(1.0, "mm/day", units)) - float(convert(0.0, "mm/day", units))
    except UnitError:
        raise ConfigError(
            f"{reader.path}: {kind.name} needs streamflow as a depth (mm/day), not {units!r}"
        ) from None
    mean, std = norm.target_mean["streamflow"], norm.target_std["streamflow"]
    return {
        "kind": kind.name,
        "parameter_sets": int(config.CONCEPTUAL_PARAMETER_SETS),
        "dynamic_parameters": tuple(config.CONCEPTUAL_DYNAMIC_PARAMETERS),
        "physical_index": index,
        "physical_scale": tuple(scale),
        "physical_offset": tuple(offset),
        "target_scale": to_store / std,
        "target_offset": -mean / std,
    }
