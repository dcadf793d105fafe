"""A saved model: weights as tensors (``*.pt``) plus a JSON sidecar with all it needs to predict.

Nothing here unpickles: weights load with ``torch.load(..., weights_only=True)`` and the sidecar
is JSON (config, input and attribute names, normalisation statistics, package version). A file
that is not what it claims (a pickled object, a truncated or foreign file, a sidecar with
unknown keys, values of the wrong type or a model its weights do not fit) is refused with one
line naming the file and the first bad key or tensor (`ModelFileError`).
"""

from __future__ import annotations

import json
import pickle
import re
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from regional_lstm import __version__
from regional_lstm.atomic import atomic_path, write_bytes, write_text
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.sampling import DataSpec
from regional_lstm.errors import ModelFileError, RegionalLSTMError
from regional_lstm.models import ModelSpec, build_model
from regional_lstm.models.spec import check_fields

FORMAT = "regional-lstm-model"
FORMAT_VERSION = 1
# Top-level keys of a sidecar and of an ensemble manifest, with their JSON types.
CARD_KEYS = {
    "format": str,
    "format_version": int,
    "package_version": str,
    "model": dict,
    "data": dict,
    "normalization": dict,
    "trained_basins": list,
    "config": dict,
    "training": dict,
}
MANIFEST_KEYS = {
    "format": str,
    "format_version": int,
    "package_version": str,
    "members": list,
    "statistic": str,
    "seeds": list,
    "member_runs": list,
}
# What torch's weights-only unpickler says when a file asks for a Python object by name.
PICKLED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


@dataclass(frozen=True)
class ModelCard:
    """The sidecar: what the weights are and how to feed them."""

    model: ModelSpec
    data: DataSpec
    normalization: Normalization
    trained_basins: list[str]
    config: dict[str, Any]
    training: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "package_version": __version__,
            "model": self.model.to_dict(),
            "data": asdict(self.data),
            "normalization": self.normalization.to_dict(),
            "trained_basins": self.trained_basins,
            "config": self.config,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Inverse of `to_dict`, checked: known keys only, each of its type, and a model that
        takes the inputs, attributes and targets the card lists (ValueError naming the key)."""
        check_keys(data, CARD_KEYS, required=CARD_KEYS)
        if data["format_version"] != FORMAT_VERSION:
            raise ValueError(f"format_version {data['format_version']} is not known here")
        check_fields(DataSpec, data["data"], "data")
        check_fields(Normalization, data["normalization"], "normalization")
        if not all(isinstance(basin, str) for basin in data["trained_basins"]):
            raise ValueError("trained_basins: expected a list of str")
        spec = data["data"]
        card = cls(
            model=ModelSpec.from_dict(data["model"]),
            data=DataSpec(
                tuple(spec["dynamic"]),
                tuple(spec["static"]),
                tuple(spec["targets"]),
                spec["lookback"],
                lags=tuple(spec.get("lags", ())),
                withhold_lags=spec.get("withhold_lags", False),
            ),
            normalization=Normalization.from_dict(data["normalization"]),
            trained_basins=list(data["trained_basins"]),
            config=dict(data["config"]),
            training=dict(data["training"]),
        )
        card.check()
        return card

    def check(self) -> None:
        """The model must read what the data spec feeds it, and every name be normalised."""
        model, data, norm = self.model, self.data, self.normalization
        if model.n_dynamic != len(data.inputs):
            raise ValueError(f"model.n_dynamic is {model.n_dynamic}, data has {len(data.inputs)}")
        if model.n_static != len(data.static):
            raise ValueError(f"model.n_static is {model.n_static}, data has {len(data.static)}")
        if model.targets != data.targets:
            raise ValueError(f"model.targets {list(model.targets)} differ from data.targets")
        if data.lookback < 1 or any(lag < 1 for lag in data.lags):
            raise ValueError("data.lookback and data.lags must be >= 1")
        for kind, names in (("dynamic", data.dynamic), ("static", data.static)):
            for stat in ("mean", "std"):
                _require_names(norm, f"{kind}_{stat}", names)
        for stat in ("mean", "std"):
            _require_names(norm, f"target_{stat}", data.targets)


def _require_names(norm: Normalization, field: str, names: tuple[str, ...]) -> None:
    missing = [name for name in names if name not in getattr(norm, field)]
    if missing:
        raise ValueError(f"normalization.{field}: no {missing[0]!r}")


def check_keys(data: Any, types: dict[str, type], *, required: Iterable[str] = ()) -> None:
    """That a JSON object has only keys of ``types``, each of its type, and the required ones."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(types))
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown key; valid keys: {sorted(types)}")
    for key in required:
        if key not in data:
            raise ValueError(f"{key}: missing")
    for key, value in data.items():
        if not isinstance(value, types[key]) or isinstance(value, bool) != (types[key] is bool):
            raise ValueError(f"{key}: expected {types[key].__name__}, got {type(value).__name__}")


def sidecar_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_model(weights_path: Path, state_dict: dict[str, torch.Tensor], card: ModelCard) -> Path:
    """Write ``<name>.pt`` (tensors only) and ``<name>.json``, each atomically."""
    with atomic_path(weights_path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, tmp)
    write_text(sidecar_path(weights_path), json.dumps(card.to_dict(), indent=1))
    return weights_path


def load_model(weights_path: str | Path) -> tuple[nn.Module, ModelCard]:
    """Rebuild a model from its sidecar and load its weights (weights only, no pickles)."""
    weights_path = Path(weights_path)
    sidecar = sidecar_path(weights_path)
    for path in (weights_path, sidecar):
        if not path.is_file():
            raise RegionalLSTMError(f"{path}: model file not found")
    data = read_json(sidecar, "model sidecar")
    if data.get("format") != FORMAT:
        raise ModelFileError(f"{sidecar}: not a regional-lstm model sidecar")
    try:
        card = ModelCard.from_dict(data)
    except ValueError as error:
        raise ModelFileError(f"{sidecar}: {error}") from None
    model = build_model(card.model)
    load_weights(model, weights_path, f"the model {sidecar.name} describes")
    model.eval()
    return model, card


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; anything else (bad UTF-8, bad JSON, a list) is one line."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{path}: {what} not found") from None
    except UnicodeDecodeError:
        raise ModelFileError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ModelFileError(
            f"{path}: {what} is not valid JSON ({error.msg}, line {error.lineno})"
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: {what} is not a JSON object")
    return data


def load_tensors(path: str | Path, what: str = "weights file") -> Any:
    """``torch.load(path, weights_only=True)``, each way it can fail said in one line.

    A file asking for a Python object (a pickled class, a function to call) is refused before
    anything in it runs: the weights-only unpickler knows tensors and plain containers only.
    """
    path = Path(path)
    try:
        _check_crc(path, what)
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"{path}: {what} not found") from None
    except pickle.UnpicklingError as error:
        found = PICKLED_GLOBAL.search(str(error))
        if found:
            raise ModelFileError(
                f"{path}: refused: the {what} holds a pickled Python object ({found[1]}), "
                "not only tensors; nothing in it was run"
            ) from None
        raise ModelFileError(f"{path}: {what} is damaged or not written by torch.save") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile):
        raise ModelFileError(
            f"{path}: {what} is damaged (truncated?) or not written by torch.save"
        ) from None


def _check_crc(path: Path, what: str) -> None:
    """Each record of torch's zip format against its CRC-32, which torch itself never checks:
    a flipped byte in a tensor would otherwise load as a different weight."""
    if not zipfile.is_zipfile(path):
        return  # torch's legacy format (no checksums), or not torch's at all: torch.load says
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
    if bad is not None:
        raise ModelFileError(f"{path}: {what} is damaged ({bad.split('/', 1)[-1]} fails its CRC)")


def load_weights(model: nn.Module, path: str | Path, described_by: str) -> None:
    """Load a weights file into ``model``: the same tensor names, each of the same shape."""
    tensors = load_tensors(path)
    expected = model.state_dict()
    if not isinstance(tensors, dict):
        raise ModelFileError(f"{path}: not a dict of tensors ({type(tensors).__name__})")
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise ModelFileError(f"{path}: entry {name!r} is not a tensor")
        if name not in expected:
            raise ModelFileError(f"{path}: tensor {name!r} is not in {described_by}")
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise ModelFileError(
                f"{path}: tensor {name!r} is {tensor.dtype} {tuple(tensor.shape)}, "
                f"{described_by} has {expected[name].dtype} {tuple(expected[name].shape)}"
            )
    missing = [name for name in expected if name not in tensors]
    if missing:
        raise ModelFileError(
            f"{path}: no tensor {missing[0]!r} of {described_by} ({len(missing)} missing)"
        )
    model.load_state_dict(tensors)


ENSEMBLE_FORMAT = "regional-lstm-ensemble"
ENSEMBLE_MANIFEST = "ensemble.json"


def save_ensemble(folder: Path, members: list[Path], info: dict[str, Any]) -> Path:
    """Copy member models into ``folder`` beside an ``ensemble.json`` that lists them.

    Each member keeps its weights and sidecar (``member_<i>/best_model.{pt,json}``); ``info``
    (statistic, seeds, member run ids / registry versions) goes into the manifest as is.
    """
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, weights in enumerate(members):
        target = folder / f"member_{i}" / weights.name
        for source, destination in (
            (weights, target),
            (sidecar_path(weights), sidecar_path(target)),
        ):
            write_bytes(destination, source.read_bytes())
        entries.append(str(target.relative_to(folder)))
    manifest = {
        "format": ENSEMBLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "members": entries,
        **info,
    }
    return write_text(folder / ENSEMBLE_MANIFEST, json.dumps(manifest, indent=1))


def load_members(path: str | Path) -> tuple[list[tuple[nn.Module, ModelCard]], dict[str, Any]]:
    """One model (``.pt``) or an ensemble (its folder or ``ensemble.json``) as a member list.

    Members must share inputs, targets, lookback and normalisation: they are averaged. The
    second value is the ensemble manifest (empty for a single model).
    """
    path = Path(path)
    if path.is_dir():
        path = path / ENSEMBLE_MANIFEST
    if path.suffix != ".json":
        return [load_model(path)], {}
    if not path.is_file():
        raise RegionalLSTMError(f"{path}: ensemble manifest not found")
    manifest = read_json(path, "ensemble manifest")
    if manifest.get("format") != ENSEMBLE_FORMAT:
        raise ModelFileError(f"{path}: not a regional-lstm ensemble manifest")
    try:
        check_manifest(manifest, path.parent)
    except ValueError as error:
        raise ModelFileError(f"{path}: {error}") from None
    members = [load_model(path.parent / entry) for entry in manifest["members"]]
    first = members[0][1]
    for entry, (_, card) in zip(manifest["members"], members, strict=True):
        if card.data != first.data or card.normalization != first.normalization:
            raise RegionalLSTMError(
                f"{path}: member {entry} differs from the first in inputs or normalisation"
            )
    return members, manifest


def check_manifest(manifest: dict[str, Any], folder: Path) -> None:
    """Known keys of their types; members are files inside ``folder`` (ValueError if not)."""
    check_keys(manifest, MANIFEST_KEYS, required=("format", "format_version", "members"))
    if manifest["format_version"] != FORMAT_VERSION:
        raise ValueError(f"format_version {manifest['format_version']} is not known here")
    members = manifest["members"]
    if not members or not all(isinstance(entry, str) for entry in members):
        raise ValueError("members: expected a non-empty list of file names")
    inside = folder.resolve()
    for entry in members:
        if Path(entry).is_absolute() or not (folder / entry).resolve().is_relative_to(inside):
            raise ValueError(f"members: {entry!r} is not a file inside the ensemble folder")
    if manifest.get("statistic", "mean") not in ("mean", "median"):
        raise ValueError(f"statistic: {manifest['statistic']!r} is not 'mean' or 'median'")
    for key, kind in (("seeds", int), ("member_runs", str)):
        if not all(isinstance(v, kind) and not isinstance(v, bool) for v in manifest.get(key, [])):
            raise ValueError(f"{key}: expected a list of {kind.__name__}")
