"""The value types and validators of the config's keys: numbers as YAML writes them, absolute
paths, store addresses, basin ids, and tunable keys (a value or a search space)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BeforeValidator,
    Discriminator,
    Field,
    Strict,
    StrictInt,
    StrictStr,
    Tag,
)

from regional_lstm.basin_ids import id_problem
from regional_lstm.locations import is_url, location


def float_from_yaml_string(value: Any) -> Any:
    """Read '1e-6' as a number: PyYAML only recognises exponents written with a dot (1.0e-6)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def not_url(value: Any) -> Any:
    """A URL is refused, not taken as a relative path (``s3://b/x`` would become ``s3:/b/x``):
    only DATA_STORE may live on object storage."""
    if isinstance(value, str) and is_url(value):
        raise ValueError("a URL is not supported here; give a local path or a shared mount")
    return value


def store_location(value: Any) -> Any:
    """DATA_STORE: a URL (``s3://``, ``gs://``, ``az://``) as written, a path made absolute."""
    if isinstance(value, str | os.PathLike):
        return location(value).url
    return value


def absolute(path: Path) -> Path:
    """Resolve against the current directory now, because Ray workers run somewhere else."""
    return Path(os.path.abspath(path.expanduser()))


def unique(names: list[str]) -> list[str]:
    """Reject repeated names, which would silently double a variable or a basin."""
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise ValueError(f"repeated name(s) {', '.join(map(repr, repeated))}")
    return names


def model_reference(value: Any) -> Any:
    """A ``models:/`` or ``runs:/`` URI stays as written; anything else is a path, made absolute."""
    if isinstance(value, Path) or (
        isinstance(value, str) and not value.startswith(("models:/", "runs:/"))
    ):
        return str(absolute(Path(value)))
    return value


def tracking_uri(value: Any) -> Any:
    """``sqlite:///relative.db`` becomes absolute: Ray workers open it from other folders."""
    prefix = "sqlite:///"
    if isinstance(value, str) and value.startswith(prefix) and not value.startswith(prefix + "/"):
        return prefix + str(absolute(Path(value.removeprefix(prefix))))
    return value


def basin_ids_or_file(value: Any) -> Any:
    """Basin ids are strings; a string or path instead names a file with one id per line."""
    if isinstance(value, str | Path):
        return absolute(Path(value))
    if not isinstance(value, list | tuple):
        return value
    if not value:
        raise ValueError("expected at least one basin id (leave BASINS out for all basins)")
    for basin in value:
        if isinstance(basin, bool) or not isinstance(basin, str | int):
            raise ValueError(f"expected basin ids as strings, got {basin!r}")
        problem = id_problem(str(basin))
        if problem is not None:
            raise ValueError(problem)
    return unique([str(basin) for basin in value])


TUNABLE = "tunable"  # marks the fields `tunable` builds, from which TUNABLE_KEYS is derived
VALUE, SEARCH = "value", "search"  # the tags of a tunable key's two forms


def tunable(scalar: Any) -> Any:
    """`scalar`, or a non-empty list of them: a search space for `regional-lstm tune`."""
    return Annotated[
        Annotated[scalar, Tag(VALUE)] | Annotated[list[scalar], Field(min_length=1), Tag(SEARCH)],
        Discriminator(lambda value: SEARCH if isinstance(value, list | tuple) else VALUE),
        TUNABLE,
    ]


Number = Annotated[float, BeforeValidator(float_from_yaml_string), Strict(), AllowInfNan(False)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
AbsolutePath = Annotated[Path, BeforeValidator(not_url), AfterValidator(absolute)]
StoreAddress = Annotated[StrictStr, BeforeValidator(store_location)]
Names = Annotated[list[StrictStr], AfterValidator(unique)]
NonEmptyNames = Annotated[Names, Field(min_length=1)]
Seeds = Annotated[
    list[Annotated[StrictInt, Field(ge=0)]], AfterValidator(unique), Field(min_length=1)
]


def as_list(value: Any) -> list[Any]:
    """A tunable key's values: its search space, or its one value as a list."""
    return value if isinstance(value, list) else [value]
