"""The concat model: attributes repeated at every step beside the forcings, one fused nn.LSTM."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from regional_lstm.models.base import RegionalModel
from regional_lstm.models.spec import ModelSpec


def stacked_lstm(
    input_size: int, hidden_size: int, num_layers: int, dropout: float, initial_forget_bias: float
) -> nn.LSTM:
    """A batch-first ``nn.LSTM`` whose forget gates start open (bias ``initial_forget_bias``).

    torch packs gate biases as (i, f, g, o) and adds ``bias_ih`` and ``bias_hh``: the forget slice
    of ``bias_hh`` holds the value and that of ``bias_ih`` is 0, so their sum is exactly it.
    An open forget gate lets gradients reach far back in long (e.g. 365-day) windows.
    """
    lstm = nn.LSTM(
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        # torch warns about between-layer dropout on a single layer, where it does nothing.
        dropout=dropout if num_layers > 1 else 0.0,
    )
    forget = slice(hidden_size, 2 * hidden_size)
    with torch.no_grad():
        for layer in range(num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[forget] = 0.0
            getattr(lstm, f"bias_hh_l{layer}")[forget] = initial_forget_bias
    return lstm


def with_static_at_every_step(x_dynamic: Tensor, static: Tensor) -> Tensor:
    """(batch, seq, d) and (batch, s) -> (batch, seq, d + s), the attributes repeated per step."""
    repeated = static.unsqueeze(1).expand(-1, x_dynamic.shape[1], -1)
    return torch.cat([x_dynamic, repeated], dim=-1)


class ConcatLSTM(RegionalModel):
    """Static features concatenated to the dynamic inputs at every step of a stacked LSTM."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.lstm = stacked_lstm(
            spec.n_dynamic + spec.static_size,
            spec.hidden_size,
            spec.num_layers,
            spec.dropout,
            spec.initial_forget_bias,
        )

    def encode(
        self, x_dynamic: Tensor, static: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        return self.lstm(with_static_at_every_step(x_dynamic, static), state)
