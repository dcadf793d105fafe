"""The architecture of a model as plain data, saved as JSON beside its weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from regional_lstm.registry import MODELS


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model before loading its ``state_dict``.

    ``n_static`` counts the raw static attributes fed to the model (0 is allowed);
    ``static_embedding`` is the width of an optional MLP applied to them (None: use them raw).
    ``targets`` fixes the column order of ``y_hat``. ``targets`` given as a list is stored as a
    tuple so that specs stay hashable and compare equal after a JSON round trip.
    """

    n_dynamic: int
    n_static: int
    hidden_size: int
    num_layers: int
    dropout: float
    use_attention: bool
    conditioning: str = "concat"  # a name in regional_lstm.registry.MODELS
    static_embedding: int | None = None
    targets: tuple[str, ...] = ("streamflow",)
    initial_forget_bias: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        problems = [
            f"{name} must be >= 1"
            for name in ("n_dynamic", "hidden_size", "num_layers")
            if getattr(self, name) < 1
        ]
        if self.n_static < 0:
            problems.append("n_static must be >= 0")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if self.conditioning not in MODELS:
            problems.append(f"conditioning must be one of {tuple(MODELS)}")
        if self.static_embedding is not None and self.static_embedding < 1:
            problems.append("static_embedding must be >= 1 or None")
        if self.static_embedding is not None and self.n_static == 0:
            problems.append("static_embedding needs n_static >= 1")
        if not self.targets or len(set(self.targets)) != len(self.targets):
            problems.append("targets must be non-empty and unique")
        if problems:
            raise ValueError(f"invalid ModelSpec: {'; '.join(problems)}")

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    @property
    def static_size(self) -> int:
        """Width of the static features the recurrent layer sees (after any embedding)."""
        return self.n_static if self.static_embedding is None else self.static_embedding

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``targets`` as a list)."""
        return {**dataclasses.asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        """Inverse of `to_dict`; unknown keys are an error, not silently dropped."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelSpec keys {unknown}; valid keys: {sorted(known)}")
        return cls(**data)
