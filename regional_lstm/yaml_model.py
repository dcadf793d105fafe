"""YAML files read into pydantic models, every problem one line naming the file and the key.

The experiment config and the CSV ingest mappings both come in this way, so their messages read
alike: unknown keys first (a misspelt key explains the missing one after it), then missing keys,
then bad values as ``KEY: expected ..., got ...``, all on one line without pydantic's URLs.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from regional_lstm.errors import RegionalLSTMError

Model = TypeVar("Model", bound=BaseModel)

_BOUNDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}
_EXPECTED = {
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "path_type": "expected a path",
    "too_short": "expected a non-empty list",
}
_SHOWN_CHARACTERS = 60


def read_mapping(path: Path, what: str, error: type[RegionalLSTMError]) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or one ``error`` saying why not.

    ``what`` names the kind of file in the messages: ``config``, ``mapping``.
    """
    if not path.is_file():
        raise error(f"{path}: no such {what} file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(problem, "problem", None) or " ".join(str(problem).split())
        raise error(f"{path}: not valid YAML{where}: {reason}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of KEY: value, got {type(data).__name__}")
    keys = [key for key in data if not isinstance(key, str)]
    if keys:
        raise error(f"{path}: keys must be names, got {keys[0]!r}")
    return data


def validate(
    model: type[Model],
    data: Mapping[str, Any],
    source: str,
    error: type[RegionalLSTMError],
    *,
    tags: Collection[str] = (),
) -> Model:
    """``data`` as a ``model``, or one ``error``: ``source: problem; problem; ...``.

    ``tags`` are the discriminator tags of the model's tagged unions: pydantic puts them in a
    problem's location, where they are no keys the user wrote.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as problems:
        raise error(f"{source}: {summarise(problems, model, tags)}") from None


def summarise(problems: ValidationError, model: type[BaseModel], tags: Collection[str] = ()) -> str:
    """Every problem pydantic found, on one line: unknown keys, then missing ones, then values."""
    details = problems.errors()
    unknown = [_unknown(d, model, tags) for d in details if d["type"] == "extra_forbidden"]
    missing = _missing([d for d in details if d["type"] == "missing"], tags)
    other = [_describe(d, tags) for d in details if d["type"] not in ("extra_forbidden", "missing")]
    return "; ".join(unknown + missing + other)


def _keys(detail: ErrorDetails, tags: Collection[str]) -> list[str | int]:
    return [part for part in detail["loc"] if part not in tags]


def _where(keys: Sequence[str | int]) -> str:
    """A location as the YAML reads: ``variables -> P``, ``attributes[0] -> path``."""
    where = ""
    for key in keys:
        if isinstance(key, int):
            where += f"[{key}]"
        else:
            where += f" -> {key}" if where else str(key)
    return where


def _unknown(detail: ErrorDetails, model: type[BaseModel], tags: Collection[str]) -> str:
    *parent, key = _keys(detail, tags)
    if parent:
        return f"unknown key '{key}' in {_where(parent)}"
    return f"unknown key '{key}'{_closest_key_hint(str(key), model)}"


def _closest_key_hint(key: str, model: type[BaseModel]) -> str:
    names = {name.upper(): name for name in model.model_fields}
    matches = difflib.get_close_matches(key.upper(), names, n=1, cutoff=0.6)
    return f" (did you mean '{names[matches[0]]}'?)" if matches else ""


def _missing(details: list[ErrorDetails], tags: Collection[str]) -> list[str]:
    """Missing keys, one problem per place they are missing from."""
    by_place: dict[str, list[str]] = {}
    for detail in details:
        *parent, key = _keys(detail, tags)
        by_place.setdefault(_where(parent), []).append(f"'{key}'")
    problems = []
    for place, keys in by_place.items():
        named = f"key{'s' * (len(keys) > 1)} {', '.join(keys)}"
        problems.append(f"missing {named} in {place}" if place else f"missing required {named}")
    return problems


def _describe(detail: ErrorDetails, tags: Collection[str]) -> str:
    """One bad value as 'KEY: what was expected, got what' (or a validator's own message)."""
    where = _where(_keys(detail, tags))
    kind, context = detail["type"], detail.get("ctx", {})
    if kind == "value_error":
        problem = " ".join(str(context["error"]).split())
    else:
        if kind in _BOUNDS:
            expected = f"expected a value {_BOUNDS[kind]} {next(iter(context.values()))}"
        else:
            expected = _EXPECTED.get(kind) or detail["msg"].replace("Input should be", "expected")
        shown = repr(detail["input"])
        if len(shown) > _SHOWN_CHARACTERS:
            shown = shown[: _SHOWN_CHARACTERS - 3] + "..."
        problem = f"{expected}, got {shown}"
    return f"{where}: {problem}" if where else problem
