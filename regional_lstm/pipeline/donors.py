"""Donor models for transfer: a registered model, a logged run model, a file, or an ensemble.

A donor is a list of members (one for a single model) that share inputs and normalisation;
its predictions are the members' combined. Registry references are downloaded once into the
target project so a transfer records exactly which files it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

from regional_lstm.artifacts import ENSEMBLE_MANIFEST, ModelCard, load_members, sidecar_path
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError, RegionalLSTMError
from regional_lstm.evaluation.carry import weights_fingerprint
from regional_lstm.evaluation.predict import predict_members
from regional_lstm.pipeline.layout import project_model
from regional_lstm.tracking.models import download_model, registry_lineage
from regional_lstm.tracking.store import resolve_tracking_uri


@dataclass(frozen=True)
class Donor:
    """The members of a donor model, where they came from, and its registry lineage."""

    members: list[tuple[nn.Module, ModelCard]]
    path: Path
    reference: str
    lineage: dict[str, str] = field(default_factory=dict)
    statistic: str = "mean"

    @property
    def card(self) -> ModelCard:
        """The members' shared inputs, targets, lookback and normalisation (the first's card)."""
        return self.members[0][1]

    def predict(
        self, reader: StoreReader, basins: Sequence[str], period: Period
    ) -> list[dict[str, pd.DataFrame]]:
        """Each member's predictions for ``basins`` over ``period`` (one read of each block)."""
        return predict_members(self.members, reader, basins, period)


def load_donor(reference: str, tracking_uri: str, download_dir: Path) -> Donor:
    """Resolve ``reference``: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/ID/model``,
    a ``best_model.pt``, an ensemble folder or its ``ensemble.json``."""
    lineage: dict[str, str] = {"regional_lstm.donor": reference}
    if reference.startswith(("models:/", "runs:/")):
        try:
            lineage |= registry_lineage(reference, tracking_uri)
            path = _find_weights(reference, download_model(reference, tracking_uri, download_dir))
        except LookupError as error:
            raise ConfigError(f"LSTM_PRETRAINED_MODEL {reference}: {error}") from None
    else:
        path = Path(reference)
        if not path.exists():
            raise ConfigError(f"LSTM_PRETRAINED_MODEL {reference}: no such model file or folder")
    members, manifest = load_members(path)
    if manifest.get("member_runs"):
        lineage["regional_lstm.donor_member_runs"] = ",".join(manifest["member_runs"])
    return Donor(members, path, reference, lineage, manifest.get("statistic", "mean"))


def _find_weights(reference: str, local: Path) -> Path:
    """A downloaded model's ensemble manifest, else its weights file (one with a sidecar)."""
    manifests = sorted(local.rglob(ENSEMBLE_MANIFEST))
    if manifests:
        return manifests[0]
    weights = [p for p in sorted(local.rglob("*.pt")) if sidecar_path(p).is_file()]
    if not weights:
        raise RegionalLSTMError(f"{reference}: the logged model holds no regional-lstm weights")
    return weights[0]


def attribute_range_report(
    card: ModelCard, reader: StoreReader, basins: Sequence[str]
) -> dict[str, list[str]]:
    """Target basins whose attributes lie outside the donor's training range: basin -> names."""
    names = list(card.data.static)
    low, high = card.normalization.static_min, card.normalization.static_max
    known = [n for n in names if n in low and n in high]
    if not known:
        return {}
    values = reader.read_static(list(basins), known)
    lower = np.array([low[n] for n in known])
    upper = np.array([high[n] for n in known])
    outside = (values < lower) | (values > upper)
    return {
        basin: [known[a] for a in np.flatnonzero(row)]
        for basin, row in zip(basins, outside, strict=True)
        if row.any()
    }


def resolve_model(model: str, tracking_uri: str | None, download: Path) -> Donor:
    """A model named on the command line, whatever form it is given in (a project directory
    means its saved model); registry models are downloaded into ``download``."""
    reference = str(model)
    path = Path(reference)
    if not reference.startswith(("models:/", "runs:/")):
        if path.is_dir() and (path / "models").is_dir():
            reference = str(project_model(path.absolute()))
        elif not path.exists():
            raise ConfigError(
                f"{model}: no such model (a project, best_model.pt, ensemble folder, "
                "models:/NAME@ALIAS or runs:/ID/model)"
            )
    registry = reference.startswith(("models:/", "runs:/"))
    uri = tracking_uri or (resolve_tracking_uri() if registry else "")
    try:
        return load_donor(reference, uri, download)
    except ConfigError as error:
        raise ConfigError(str(error).removeprefix("LSTM_PRETRAINED_MODEL ")) from None


def model_identity(donor: Donor) -> dict[str, str]:
    """What identifies the model: its reference, files, registry name and version, weights."""
    lineage = donor.lineage
    identity = {
        "model_reference": donor.reference,
        "model_path": str(donor.path),
        "model_members": str(len(donor.members)),
        "model_weights_sha256": weights_fingerprint([m for m, _ in donor.members]),
    }
    for key in ("model", "version", "run_id"):
        if f"regional_lstm.donor_{key}" in lineage:
            identity[f"model_{'name' if key == 'model' else key}"] = lineage[
                f"regional_lstm.donor_{key}"
            ]
    return identity
