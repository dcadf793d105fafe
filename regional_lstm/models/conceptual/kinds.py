"""What a conceptual model declares: its parameters with bounds, its stores, its inputs, its day."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from torch import Tensor

State = dict[str, Tensor]  # store name -> (batch, parallel), mm, plus what a day carries over
Fluxes = dict[str, Tensor]  # flux name -> (batch, parallel), mm/day over the day


@dataclass(frozen=True)
class Parameter:
    """One parameter: a network learns it within [low, high]; a file may give it directly."""

    name: str
    low: float
    high: float
    units: str
    meaning: str


@dataclass(frozen=True)
class ConceptualKind:
    """A conceptual model as plain functions: ``day(state, forcing, parameters)`` advances one
    day and returns the new state and the day's fluxes, among them ``streamflow`` (mm/day),
    ``inflow`` (water in) and ``evapotranspiration``; ``storage(state)`` is the water held (mm),
    so that inflow = streamflow + evapotranspiration + change in storage closes every day.

    ``inputs`` are physical roles (``precipitation`` mm/day, ``temperature`` degC, ``pet``
    mm/day); ``initial`` names the stores a parameter file may set (their start, in mm).
    """

    name: str
    parameters: tuple[Parameter, ...]
    initial: tuple[Parameter, ...]
    inputs: tuple[str, ...]
    start: Callable[[dict[str, Tensor], dict[str, Tensor]], State]
    day: Callable[[State, dict[str, Tensor], dict[str, Tensor]], tuple[State, Fluxes]]
    storage: Callable[[State], Tensor]
    # What follows from parameters that do not change by day (a unit hydrograph's ordinates),
    # computed once per run instead of every day; `day` finds it among its parameters.
    prepare: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None
    # A cheaper `day` for training a parameter network, where one is worth it (fewer substeps).
    learned_day: Callable[[State, dict[str, Tensor], dict[str, Tensor]], tuple] | None = None

    @property
    def learned(self) -> ConceptualKind:
        """The kind as a parameter network trains and runs it."""
        return self if self.learned_day is None else replace(self, day=self.learned_day)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)
