"""The architecture of a model as plain data, saved as JSON beside its weights."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from regional_lstm.registry import CONCEPTUAL_MODELS, MODEL_KINDS, MODELS


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
    # A conceptual kind (HBV, GR4J, EXPHYDRO): its parameters come from a network of
    # `hidden_size` on the attributes, ``dynamic_parameters`` from an LSTM on forcings and
    # attributes, in ``parameter_sets`` parallel sets whose streamflow is averaged. The
    # model recovers physical inputs from its standardised ones: the role's inputs
    # (``physical_index``) times ``physical_scale`` plus ``physical_offset`` (per input, in the
    # role's units), and standardises its streamflow (mm/day) as q * target_scale + target_offset.
    kind: str = "LSTM"
    parameter_sets: int = 1
    dynamic_parameters: tuple[str, ...] = ()
    physical_index: dict[str, tuple[int, ...]] = dataclasses.field(default_factory=dict)
    physical_scale: tuple[float, ...] = ()
    physical_offset: tuple[float, ...] = ()
    target_scale: float = 1.0
    target_offset: float = 0.0

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
        object.__setattr__(self, "dynamic_parameters", tuple(self.dynamic_parameters))
        object.__setattr__(self, "physical_scale", tuple(self.physical_scale))
        object.__setattr__(self, "physical_offset", tuple(self.physical_offset))
        object.__setattr__(
            self, "physical_index", {k: tuple(v) for k, v in self.physical_index.items()}
        )
        if self.kind not in MODEL_KINDS:
            problems.append(f"kind must be one of {MODEL_KINDS}")
        elif self.kind in CONCEPTUAL_MODELS:
            problems += self._conceptual_problems()
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

    def _conceptual_problems(self) -> list[str]:
        kind = CONCEPTUAL_MODELS[self.kind]
        problems = []
        if self.parameter_sets < 1:
            problems.append("parameter_sets must be >= 1")
        unknown = set(self.dynamic_parameters) - set(kind.parameter_names)
        if unknown:
            problems.append(f"dynamic_parameters {sorted(unknown)} are not {self.kind}'s")
        if self.targets != ("streamflow",):
            problems.append(f"{self.kind} predicts streamflow only")
        if (
            len(self.physical_scale) != self.n_dynamic
            or len(self.physical_offset) != self.n_dynamic
        ):
            problems.append("physical_scale and physical_offset need one value per input")
        roles = set(self.physical_index)
        needed = {r for r in kind.inputs if r != "pet"}
        if not needed <= roles or not ({"pet", "day_length"} & roles or "pet" not in kind.inputs):
            problems.append(f"physical_index must give {sorted(kind.inputs)} (or day_length)")
        if "day_length" in roles and "temperature" not in roles:
            problems.append("physical_index: Hamon's PET from day_length needs temperature")
        return problems

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
        check_fields(cls, data, "model")
        return cls(**data)


def check_fields(cls: type, data: Any, where: str) -> None:
    """That JSON ``data`` has exactly the fields of dataclass ``cls``, each of its type.

    Raises ValueError naming the first bad key as ``where.key``: unknown keys, missing
    required ones and values of another type (a string for a number, a float or a bool for an
    int) are all refused.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(
            f"{where}: unknown {cls.__name__} keys {unknown}; valid keys: {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    for name, field in fields.items():
        if name not in data:
            required = field.default is dataclasses.MISSING
            if required and field.default_factory is dataclasses.MISSING:
                raise ValueError(f"{where}.{name}: missing")
            continue
        if not _matches(data[name], hints[name]):
            got = repr(data[name])
            got = got if len(got) <= 40 else f"{got[:37]}..."
            raise ValueError(f"{where}.{name}: expected {_describe(hints[name])}, got {got}")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field annotation (a tuple field takes a JSON list)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is tuple:
        return isinstance(value, list | tuple) and all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return f"an object of {_describe(args[1])}"
    return "null" if hint is type(None) else hint.__name__
