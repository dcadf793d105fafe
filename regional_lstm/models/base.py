"""What every regional model shares: static embedding, attention, head, and freezing by part."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from regional_lstm.models.attention import TemporalAttention
from regional_lstm.models.spec import ModelSpec

MODULE_PARTS: tuple[str, ...] = ("embedding", "lstm", "attention", "head")


class StaticEmbedding(nn.Sequential):
    """Linear -> tanh -> dropout -> Linear on the static attributes, once per sample."""

    def __init__(self, n_static: int, size: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(n_static, size), nn.Tanh(), nn.Dropout(dropout), nn.Linear(size, size)
        )


class RegionalModel(nn.Module, ABC):
    """Sequence-to-one model: a window of forcings plus basin attributes -> the last day's targets.

    ``forward({"x_dynamic": (batch, seq, n_dynamic), "x_static": (batch, n_static)})`` returns
    ``{"y_hat": (batch, n_targets)}`` in ``spec.targets`` order, plus ``"attention"``
    (batch, seq) when ``spec.use_attention``. Subclasses build ``self.lstm`` and say how it
    consumes the static features in `encode`. `forward_steps` is the stateful form: the targets
    of every step, and the recurrent state to carry into the next stretch of days.
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embedding = (
            None
            if spec.static_embedding is None
            else StaticEmbedding(spec.n_static, spec.static_embedding, spec.dropout)
        )
        self.attention = TemporalAttention(spec.hidden_size) if spec.use_attention else None
        self.dropout = nn.Dropout(spec.dropout)
        head_inputs = spec.hidden_size * (2 if spec.use_attention else 1)
        self.head = nn.Linear(head_inputs, spec.n_targets)

    @abstractmethod
    def encode(self, x_dynamic: Tensor, static: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Last recurrent layer's outputs (batch, seq, hidden) for static features (batch, s),
        starting from ``state`` (None: zeros), and the state after the last step."""

    @property
    def module_parts(self) -> tuple[str, ...]:
        """Named parts present in this model, the names `freeze` accepts."""
        return tuple(name for name in MODULE_PARTS if getattr(self, name) is not None)

    def _static(self, x_dynamic: Tensor, x_static: Tensor) -> Tensor:
        if x_dynamic.shape[-1] != self.spec.n_dynamic or x_static.shape[-1] != self.spec.n_static:
            raise ValueError(
                f"expected {self.spec.n_dynamic} dynamic and {self.spec.n_static} static inputs, "
                f"got x_dynamic {tuple(x_dynamic.shape)} and x_static {tuple(x_static.shape)}"
            )
        return x_static if self.embedding is None else self.embedding(x_static)

    def forward(self, inputs: dict[str, Tensor], last_n: int = 1) -> dict[str, Tensor]:
        """``last_n`` > 1: the targets of the window's last ``last_n`` days, (batch, n, targets)
        (sequence-to-sequence training); the attention context is the whole window's."""
        x_dynamic, x_static = inputs["x_dynamic"], inputs["x_static"]
        hidden, _ = self.encode(x_dynamic, self._static(x_dynamic, x_static))
        features = hidden[:, -1] if last_n == 1 else hidden[:, -last_n:]
        outputs = {}
        if self.attention is not None:
            context, outputs["attention"] = self.attention(hidden)
            if last_n > 1:
                context = context.unsqueeze(1).expand(-1, last_n, -1)
            features = torch.cat([features, context], dim=-1)
        outputs["y_hat"] = self.head(self.dropout(features))
        return outputs

    def forward_steps(self, inputs: dict[str, Tensor], state: Any = None) -> dict[str, Any]:
        """Targets after every step, ``{"y_hat": (batch, seq, n_targets), "state": ...}``.

        Step t's output is what `forward` gives for a window ending at t that starts where the
        state was zero; passing the returned ``state`` back in continues the same sequence.
        Attention looks at a whole window at once, so an attention model has no such form.
        """
        if self.attention is not None:
            raise ValueError("a model with temporal attention predicts whole windows only")
        x_dynamic, x_static = inputs["x_dynamic"], inputs["x_static"]
        hidden, state = self.encode(x_dynamic, self._static(x_dynamic, x_static), state)
        return {"y_hat": self.head(self.dropout(hidden)), "state": state}


def freeze(model: RegionalModel, parts: Iterable[str]) -> None:
    """Stop gradients for the named parts (e.g. ``["embedding", "lstm"]`` to train only the head).

    ``lstm.K`` names the K-th recurrent layer (0 = first), so ``["lstm.0"]`` on a two-layer model
    fine-tunes the last layer and the head. A single string is taken as one part name. Naming a
    part the model lacks is an error.
    """
    names = [parts] if isinstance(parts, str) else list(parts)
    valid = [*model.module_parts, *_layer_parts(model)]
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown model parts {unknown}; this model has {valid}")
    for name in names:
        for parameter in _parameters_of(model, name):
            parameter.requires_grad_(False)


def _layer_parts(model: RegionalModel) -> list[str]:
    return [f"lstm.{layer}" for layer in range(model.spec.num_layers)]


def _parameters_of(model: RegionalModel, part: str) -> list[nn.Parameter]:
    """A part's parameters; torch names a recurrent layer's weights ``..._l<K>[_reverse]``."""
    if "." not in part:
        return list(getattr(model, part).parameters())
    layer = re.compile(rf"_l{part.split('.')[1]}(_reverse)?$")
    return [p for name, p in model.lstm.named_parameters() if layer.search(name)]
