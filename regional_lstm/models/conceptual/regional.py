"""A conceptual model whose parameters a network learns from basin attributes (and forcings).

The differentiable parameter learning of Feng et al. (2022, WRR 58, e2022WR032404): an MLP maps
each basin's standardised attributes to every parameter, squashed by a sigmoid into its bounds,
for ``parameter_sets`` parallel sets whose streamflow is averaged; parameters named in
``dynamic_parameters`` come instead from an LSTM over the forcings and attributes, one value a
day. The model takes and returns what the LSTMs do: standardised inputs in, standardised
streamflow out, so the sampler, trainer and evaluator need no branch for it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from regional_lstm.models.conceptual.pet import hamon
from regional_lstm.models.conceptual.simulate import simulate
from regional_lstm.models.lstm import stacked_lstm, with_static_at_every_step
from regional_lstm.models.spec import ModelSpec
from regional_lstm.registry import CONCEPTUAL_MODELS


class RegionalConceptual(nn.Module):
    """``forward({"x_dynamic", "x_static"}, last_n)`` -> ``{"y_hat": ...}`` as `RegionalModel`.

    A window's first ``seq - last_n`` days spin the stores up without gradients (as delta-HBV
    warms up); the last ``last_n`` days are simulated with them. `forward_steps` carries the
    stores (and the parameter LSTM's state) from one call to the next.
    """

    # Trained in whole batches on a CPU: a daily step costs per operation, not per window, and
    # its graph of (batch x sets) states is small (benchmarks/model_speed.py --micro-batch 64).
    whole_batches = True

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.kind = CONCEPTUAL_MODELS[spec.kind].learned
        names = self.kind.parameter_names
        self.static_names = tuple(n for n in names if n not in spec.dynamic_parameters)
        self.dynamic_names = tuple(n for n in names if n in spec.dynamic_parameters)
        sets = spec.parameter_sets
        hidden = spec.hidden_size
        self.parameters_static = nn.Sequential(
            nn.Linear(max(spec.n_static, 1), hidden),
            nn.Tanh(),
            nn.Dropout(spec.dropout),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, len(self.static_names) * sets),
        )
        self.lstm = None
        self.parameters_dynamic = None
        if self.dynamic_names:
            inputs = spec.n_dynamic + spec.n_static
            self.lstm = stacked_lstm(inputs, hidden, 1, 0.0, spec.initial_forget_bias)
            self.parameters_dynamic = nn.Linear(hidden, len(self.dynamic_names) * sets)
        bounds = {p.name: (p.low, p.high) for p in self.kind.parameters}
        self.register_buffer("low", torch.tensor([bounds[n][0] for n in names]), persistent=False)
        self.register_buffer("high", torch.tensor([bounds[n][1] for n in names]), persistent=False)
        self.register_buffer("scale", torch.tensor(spec.physical_scale), persistent=False)
        self.register_buffer("offset", torch.tensor(spec.physical_offset), persistent=False)

    @property
    def module_parts(self) -> tuple[str, ...]:
        """Named parts, the names `freeze` accepts."""
        parts = ("parameters_static", "lstm", "parameters_dynamic")
        return tuple(name for name in parts if getattr(self, name) is not None)

    def physical(self, x_dynamic: Tensor) -> dict[str, Tensor]:
        """Each role (batch, seq) in its physical units, PET from Hamon where it is computed."""
        values = x_dynamic.float() * self.scale + self.offset
        forcing = {
            role: values[..., list(index)].mean(dim=-1)
            for role, index in self.spec.physical_index.items()
        }
        if "pet" not in forcing and "day_length" in forcing:
            forcing["pet"] = hamon(forcing["temperature"], forcing.pop("day_length"))
        forcing.pop("day_length", None)
        if "pet" in forcing:
            forcing["pet"] = forcing["pet"].clamp(min=0.0)  # a reanalysis's dew as no demand
        if "precipitation" in forcing:
            forcing["precipitation"] = forcing["precipitation"].clamp(min=0.0)
        return forcing

    def parameters_of(
        self, x_dynamic: Tensor, x_static: Tensor, state: Any = None
    ) -> tuple[dict[str, Tensor], Any]:
        """Every parameter within its bounds: static ones (batch, sets), dynamic ones (batch,
        seq, sets); and the parameter LSTM's state after the window."""
        batch, sets = x_dynamic.shape[0], self.spec.parameter_sets
        static = x_static if self.spec.n_static else x_static.new_zeros(batch, 1)
        raw = self.parameters_static(static.float()).view(batch, len(self.static_names), sets)
        values = {name: raw[:, k] for k, name in enumerate(self.static_names)}
        if self.lstm is not None:
            features = with_static_at_every_step(x_dynamic.float(), x_static.float())
            hidden, state = self.lstm(features, state)
            daily = self.parameters_dynamic(hidden).view(batch, -1, len(self.dynamic_names), sets)
            values |= {name: daily[:, :, k] for k, name in enumerate(self.dynamic_names)}
        names = self.kind.parameter_names
        return {
            name: self.low[names.index(name)]
            + (self.high[names.index(name)] - self.low[names.index(name)])
            * torch.sigmoid(values[name])
            for name in names
        }, state

    def forward(self, inputs: dict[str, Tensor], last_n: int = 1) -> dict[str, Tensor]:
        x_dynamic, x_static = inputs["x_dynamic"], inputs["x_static"]
        forcing = self.physical(x_dynamic)
        parameters, _ = self.parameters_of(x_dynamic, x_static)
        warmup = x_dynamic.shape[1] - last_n
        state = None
        if warmup > 0:
            with torch.no_grad():
                early = {name: value[:, :warmup] for name, value in forcing.items()}
                _, state = simulate(self.kind, early, _days(parameters, slice(0, warmup)))
        late = {name: value[:, warmup:] for name, value in forcing.items()}
        fluxes, _ = simulate(self.kind, late, _days(parameters, slice(warmup, None)), state=state)
        y_hat = self._standardised(fluxes["streamflow"])
        return {"y_hat": y_hat[:, -1] if last_n == 1 else y_hat}

    def forward_steps(self, inputs: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        """Streamflow after every step, carrying stores and parameter-LSTM state onward."""
        stores, lstm_state = state if state is not None else (None, None)
        x_dynamic, x_static = inputs["x_dynamic"], inputs["x_static"]
        parameters, lstm_state = self.parameters_of(x_dynamic, x_static, lstm_state)
        fluxes, stores = simulate(self.kind, self.physical(x_dynamic), parameters, state=stores)
        return {"y_hat": self._standardised(fluxes["streamflow"]), "state": (stores, lstm_state)}

    def _standardised(self, streamflow: Tensor) -> Tensor:
        """(batch, days, sets) mm/day -> (batch, days, 1), standardised as the target is."""
        q = streamflow.mean(dim=-1, keepdim=True)
        return q * self.spec.target_scale + self.spec.target_offset


def _days(parameters: dict[str, Tensor], days: slice) -> dict[str, Tensor]:
    """Dynamic parameters (batch, seq, sets) cut to ``days``; static ones as they are."""
    return {k: v[:, days] if v.dim() == 3 else v for k, v in parameters.items()}
