"""A conceptual model run over a store's basins with parameters given per basin."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from regional_lstm.config import Config
from regional_lstm.config_periods import Period
from regional_lstm.data.physical import PhysicalInput, physical_inputs
from regional_lstm.data.reader import StoreReader
from regional_lstm.logs import shortlist
from regional_lstm.models.conceptual.kinds import ConceptualKind
from regional_lstm.models.conceptual.pet import hamon
from regional_lstm.models.conceptual.simulate import simulate
from regional_lstm.pipeline.planning import check_period_in_store
from regional_lstm.units import convert

logger = logging.getLogger(__name__)
SIMULATION_BASINS = 256  # basins simulated at once: (basins x days) float64 per input in memory


def simulate_with_parameters(
    kind: ConceptualKind,
    config: Config,
    reader: StoreReader,
    parameters: pd.DataFrame,
    period: Period,
) -> dict[str, pd.DataFrame]:
    """Per basin of ``parameters`` a frame of ``streamflow_obs`` and ``streamflow_sim``
    (mm/day) over ``period``, the model having run from the start of CALIBRATION_PERIOD (where
    the table's initial stores, or the model's defaults, apply) without a break.
    """
    basins = list(parameters.index)
    reader.positions(basins)
    first = min(config.CALIBRATION_PERIOD.start, period.start)
    check_period_in_store(reader, "simulated period", Period(first, period.end))
    inputs = physical_inputs(reader, kind.inputs, config.PHYSICAL_INPUTS)
    times = reader.time_slice(first, period.end)
    kept = reader.time_slice(period.start, period.end)
    dates = pd.DatetimeIndex(reader.time[kept], name="Date")
    out = {}
    for start in range(0, len(basins), SIMULATION_BASINS):
        block = basins[start : start + SIMULATION_BASINS]
        forcing = read_forcing(reader, block, inputs, times)
        _warn_gaps(block, forcing, reader.time[times])
        table = parameters.loc[block]
        values = {name: _column(table, name) for name in kind.parameter_names}
        initial = {p.name: _column(table, p.name) for p in kind.initial if p.name in table}
        with torch.no_grad():
            fluxes, _ = simulate(kind, forcing, values, initial=initial)
        flow = fluxes["streamflow"].mean(dim=-1).numpy()[:, kept.start - times.start :]
        observed = _observed_mm_per_day(reader, block, kept)
        for i, basin in enumerate(block):
            frame = {"streamflow_obs": observed[i], "streamflow_sim": flow[i].astype(np.float32)}
            out[basin] = pd.DataFrame(frame, index=dates)
    return out


def read_forcing(
    reader: StoreReader, basins: Sequence[str], inputs: dict[str, PhysicalInput], times: slice
) -> dict[str, torch.Tensor]:
    """Each role as (basin, time) float64 in its physical units; ``pet`` from Hamon when the
    store has day length instead."""
    names = list(dict.fromkeys(n for source in inputs.values() for n in source.variables))
    values = reader.read_dynamic(basins, names, times).astype(np.float64)
    forcing = {}
    for role, source in inputs.items():
        columns = [names.index(name) for name in source.variables]
        mean = values[..., columns].mean(axis=-1)
        forcing[role] = torch.from_numpy(mean * source.scale + source.offset)
    if "day_length" in forcing:
        forcing["pet"] = hamon(forcing["temperature"], forcing.pop("day_length"))
    return forcing


def _column(table: pd.DataFrame, name: str) -> torch.Tensor:
    """One parameter set per basin: (basin, 1)."""
    return torch.tensor(table[name].to_numpy(np.float64)).unsqueeze(-1)


def _observed_mm_per_day(reader: StoreReader, basins: Sequence[str], times: slice) -> np.ndarray:
    observed = reader.read_optional(basins, ["streamflow"], times)[..., 0]
    units = reader.units.get("streamflow", "mm/day")
    return observed if units == "mm/day" else convert(observed, units, "mm/day")


def _warn_gaps(basins: Sequence[str], forcing: dict[str, torch.Tensor], days: pd.Index) -> None:
    """A missing forcing day stops a basin's simulation there: its stores become unknown."""
    gaps = torch.stack([torch.isnan(v) for v in forcing.values()]).any(dim=0).numpy()
    broken = [(b, days[row.argmax()]) for b, row in zip(basins, gaps, strict=True) if row.any()]
    if broken:
        shown = [f"{basin} from {day.date()}" for basin, day in broken]
        logger.warning(
            f"{len(broken)} basin(s) lack forcing on some days, so their simulation is unknown "
            f"from the first gap on: {shortlist(shown)}"
        )
