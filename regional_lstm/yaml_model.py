"""YAML files read into pydantic models, every problem one line naming the file and the key.

The experiment config and the CSV ingest mappings both come in this way, so their messages read
alike: unknown keys first (a misspelt key explains the missing one after it), then missing keys,
then bad values as ``KEY: expected ..., got ...``, all on one line without pydantic's URLs.

The files are read with PyYAML's safe loader (no tags that build Python objects), bounded so that
a hostile file is refused in a fraction of a second: a billion-laughs document (aliases expanding
to millions of values), deep nesting, self-referring aliases and oversized files. Every value a
message shows is cut short, so an error line stays one short line whatever the file holds.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Discriminator, ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, SequenceNode

from regional_lstm.errors import SHOWN_CHARACTERS, RegionalLSTMError, cut

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
    "invalid-json-value": "expected text, a number, true/false, null, a list or a mapping",
}
_SHOWN_PROBLEM_CHARACTERS = 200
_SHOWN_PROBLEMS = 10
# Far above any real config or mapping (a few hundred values; an inline list of every Caravan
# basin is 7,000), far below what makes validation or a message slow.
MAX_BYTES = 1_000_000
MAX_NODES = 20_000  # values, each alias counted as the whole value it stands for
MAX_DEPTH = 50
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, SHOWN_CHARACTERS, SHOWN_CHARACTERS
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML, but more than a config can hold (`MAX_NODES`, `MAX_DEPTH`) or self-referring."""


class BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document before it is built if it nests deeper than
    `MAX_DEPTH`, has more than `MAX_NODES` values once its aliases are expanded, or refers to
    itself; a scalar that Python cannot hold (a 5,000-digit integer, 2020-13-01) is a YAML
    error at its line rather than a bare ValueError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Count the values and the nesting while composing, before Python's recursion limit."""
        if self._depth >= MAX_DEPTH:
            raise _refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event())
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _refused(f"more than {MAX_NODES} values", node)
        return node

    def construct_document(self, node: Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as error:
            kind = node.tag.rsplit(":", 1)[-1]
            problem = f"{kind} value out of range ({str(error).split(';')[0]})"
            raise yaml.constructor.ConstructorError(
                problem=problem, problem_mark=node.start_mark
            ) from None


def _check_expansion(root: Node) -> None:
    """Refuse a document whose aliases expand past `MAX_NODES` values or `MAX_DEPTH` levels, or
    that contains itself; each node is measured once, so a bomb is refused without expanding it."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values, levels) once expanded
    path: set[int] = set()

    def measure(node: Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in path:
            raise _refused("an alias refers to a value that contains it", node)
        if key not in measured:
            if depth > MAX_DEPTH:
                raise _refused(f"aliases nest deeper than {MAX_DEPTH} levels", node)
            path.add(key)
            parts = [measure(child, depth + 1) for child in _children(node)]
            path.discard(key)
            measured[key] = (
                sum(n for n, _ in parts) + 1,
                max((h for _, h in parts), default=0) + 1,
            )
        values, levels = measured[key]
        if values > MAX_NODES:
            raise _refused(f"aliases expand to more than {MAX_NODES} values", node)
        if depth + levels - 1 > MAX_DEPTH:
            raise _refused(f"aliases nest deeper than {MAX_DEPTH} levels", node)
        return values, levels

    measure(root, 1)


def _refused(problem: str, node: Node | yaml.Event) -> _Refused:
    return _Refused(problem=problem, problem_mark=node.start_mark)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def read_mapping(path: Path, what: str, error: type[RegionalLSTMError]) -> dict[str, Any]:
    """The top-level mapping of a YAML file, or one ``error`` saying why not.

    ``what`` names the kind of file in the messages: ``config``, ``mapping``.
    """
    if not path.is_file():
        raise error(f"{path}: no such {what} file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise error(
                f"{path}: {size} bytes is too large for a {what} file (at most {MAX_BYTES})"
            )
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=BoundedSafeLoader)
    except OSError as problem:
        raise error(f"{path}: cannot read the {what} file ({problem.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(problem, "problem", None) or " ".join(str(problem).split())
        verdict = "YAML refused" if isinstance(problem, _Refused) else "not valid YAML"
        raise error(f"{path}: {verdict}{where}: {cut(reason, _SHOWN_PROBLEM_CHARACTERS)}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a mapping of KEY: value, got {type(data).__name__}")
    keys = [key for key in data if not isinstance(key, str)]
    if keys:
        raise error(f"{path}: keys must be names, got {_shown(keys[0])}")
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

    ``tags`` are the discriminator tags of the model's top-level tagged unions: pydantic puts
    them in a problem's location right after the key, where they are no keys the user wrote.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as problems:
        raise error(f"{source}: {summarise(problems, model, tags)}") from None


def summarise(problems: ValidationError, model: type[BaseModel], tags: Collection[str] = ()) -> str:
    """Every problem pydantic found, on one line: unknown keys, then missing ones, then values."""
    details = problems.errors()
    unknown = [_unknown(d, model, tags) for d in details if d["type"] == "extra_forbidden"]
    missing = _missing([d for d in details if d["type"] == "missing"], model, tags)
    other = [
        _describe(d, model, tags)
        for d in details
        if d["type"] not in ("extra_forbidden", "missing")
    ]
    problems = unknown + missing + other
    more = len(problems) - _SHOWN_PROBLEMS
    shown = problems[:_SHOWN_PROBLEMS] + [f"and {more} more problems"] * (more > 0)
    return "; ".join(shown)


def _keys(detail: ErrorDetails, model: type[BaseModel], tags: Collection[str]) -> list[str | int]:
    """The keys of a problem's location; a tag is dropped only where pydantic puts one, after
    a tagged-union key of ``model``, so a key the user wrote named like a tag stays."""
    keys = list(detail["loc"])
    if len(keys) > 1 and keys[1] in tags and _is_tagged_union(model, keys[0]):
        del keys[1]
    return keys


def _is_tagged_union(model: type[BaseModel], key: str | int) -> bool:
    field = model.model_fields.get(key) if isinstance(key, str) else None
    return field is not None and any(isinstance(part, Discriminator) for part in field.metadata)


def _where(keys: Sequence[str | int]) -> str:
    """A location as the YAML reads: ``variables -> P``, ``attributes[0] -> path``."""
    where = ""
    for key in keys:
        if isinstance(key, int):
            where += f"[{key}]"
        else:
            name = _key(key)
            where += f" -> {name}" if where else name
    return where


def _unknown(detail: ErrorDetails, model: type[BaseModel], tags: Collection[str]) -> str:
    *parent, key = _keys(detail, model, tags)
    shown = _key(key)
    if parent:
        return f"unknown key '{shown}' in {_where(parent)}"
    return f"unknown key '{shown}'{_closest_key_hint(shown, model)}"


def _closest_key_hint(key: str, model: type[BaseModel]) -> str:
    names = {name.upper(): name for name in model.model_fields}
    matches = difflib.get_close_matches(key.upper(), names, n=1, cutoff=0.6)
    return f" (did you mean '{names[matches[0]]}'?)" if matches else ""


def _missing(
    details: list[ErrorDetails], model: type[BaseModel], tags: Collection[str]
) -> list[str]:
    """Missing keys, one problem per place they are missing from."""
    by_place: dict[str, list[str]] = {}
    for detail in details:
        *parent, key = _keys(detail, model, tags)
        by_place.setdefault(_where(parent), []).append(f"'{_key(key)}'")
    problems = []
    for place, keys in by_place.items():
        named = f"key{'s' * (len(keys) > 1)} {', '.join(keys)}"
        problems.append(f"missing {named} in {place}" if place else f"missing required {named}")
    return problems


def _describe(detail: ErrorDetails, model: type[BaseModel], tags: Collection[str]) -> str:
    """One bad value as 'KEY: what was expected, got what' (or a validator's own message)."""
    where = _where(_keys(detail, model, tags))
    kind, context = detail["type"], detail.get("ctx", {})
    if kind == "value_error":
        problem = cut(" ".join(str(context["error"]).split()), _SHOWN_PROBLEM_CHARACTERS)
    else:
        if kind in _BOUNDS:
            expected = f"expected a value {_BOUNDS[kind]} {next(iter(context.values()))}"
        else:
            expected = _EXPECTED.get(kind) or detail["msg"].replace("Input should be", "expected")
        problem = f"{expected}, got {_shown(detail['input'])}"
    return f"{where}: {problem}" if where else problem


def _shown(value: Any) -> str:
    """``repr(value)`` cut to `SHOWN_CHARACTERS`, without building the whole of a large one."""
    return cut(" ".join(_SHORT.repr(value).split()), SHOWN_CHARACTERS)


def _key(key: str) -> str:
    """A key as the YAML wrote it, cut short; one with a newline or control character escaped."""
    text = str(key)
    return cut(text if text.isprintable() else repr(text)[1:-1], SHOWN_CHARACTERS)
