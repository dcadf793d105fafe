"""A saved model: weights as tensors (``*.pt``) plus a JSON sidecar with all it needs to predict.

Nothing here unpickles: weights load with ``torch.load(..., weights_only=True)`` and the sidecar
is JSON (config, input and attribute names, normalisation statistics, package version).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from regional_lstm import __version__
from regional_lstm.atomic import atomic_path, write_bytes, write_text
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.sampling import DataSpec
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.models import ModelSpec, build_model

FORMAT = "regional-lstm-model"
FORMAT_VERSION = 1


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
        spec = data["data"]
        return cls(
            model=ModelSpec.from_dict(data["model"]),
            data=DataSpec(
                tuple(spec["dynamic"]),
                tuple(spec["static"]),
                tuple(spec["targets"]),
                int(spec["lookback"]),
                lags=tuple(spec.get("lags", ())),
                withhold_lags=bool(spec.get("withhold_lags", False)),
            ),
            normalization=Normalization.from_dict(data["normalization"]),
            trained_basins=list(data["trained_basins"]),
            config=dict(data["config"]),
            training=dict(data["training"]),
        )


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
    data = json.loads(sidecar.read_text())
    if data.get("format") != FORMAT:
        raise RegionalLSTMError(f"{sidecar}: not a regional-lstm model sidecar")
    card = ModelCard.from_dict(data)
    model = build_model(card.model)
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    model.eval()
    return model, card


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
    manifest = json.loads(path.read_text())
    if manifest.get("format") != ENSEMBLE_FORMAT:
        raise RegionalLSTMError(f"{path}: not a regional-lstm ensemble manifest")
    members = [load_model(path.parent / entry) for entry in manifest["members"]]
    first = members[0][1]
    for entry, (_, card) in zip(manifest["members"], members, strict=True):
        if card.data != first.data or card.normalization != first.normalization:
            raise RegionalLSTMError(
                f"{path}: member {entry} differs from the first in inputs or normalisation"
            )
    return members, manifest
