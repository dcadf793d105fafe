"""Run a conceptual model day by day over (basin, parallel set) in one vectorised loop."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from regional_lstm.models.conceptual.kinds import ConceptualKind, State


def simulate(
    kind: ConceptualKind,
    forcing: dict[str, Tensor],
    parameters: dict[str, Tensor],
    *,
    state: State | None = None,
    initial: dict[str, Tensor] | None = None,
    fluxes: Sequence[str] = ("streamflow",),
) -> tuple[dict[str, Tensor], State]:
    """The named daily ``fluxes`` (batch, time, parallel) and the state after the last day.

    ``forcing``: each of ``kind.inputs`` as (batch, time) in physical units. ``parameters``:
    each of ``kind.parameters`` as (batch, parallel), or (batch, time, parallel) for one that
    varies in time. ``state`` continues an earlier run; without it the run starts from
    ``kind.start`` with any ``initial`` stores (batch, parallel) given.
    """
    at_start = {name: _at(value, 0) for name, value in parameters.items()}
    fixed = {name: value for name, value in parameters.items() if value.dim() == 2}
    prepared = kind.prepare(fixed) if kind.prepare is not None else {}
    if state is None:
        state = kind.start(at_start, initial or {})
    days = next(iter(forcing.values())).shape[1]
    kept: dict[str, list[Tensor]] = {name: [] for name in fluxes}
    for t in range(days):
        today = {name: forcing[name][:, t, None] for name in kind.inputs}
        values = prepared | {name: _at(value, t) for name, value in parameters.items()}
        state, day_fluxes = kind.day(state, today, values)
        for name in fluxes:
            kept[name].append(day_fluxes[name])
    return {name: torch.stack(values, dim=1) for name, values in kept.items()}, state


def _at(parameter: Tensor, t: int) -> Tensor:
    """A parameter's value on day ``t``: static ones (batch, parallel) are the same every day."""
    return parameter[:, t] if parameter.dim() == 3 else parameter
