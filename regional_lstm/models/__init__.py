"""Regional models: plain ``nn.Module``s from a `ModelSpec`; dict of tensors in, dict out."""

from __future__ import annotations

from regional_lstm.models.attention import TemporalAttention
from regional_lstm.models.base import MODULE_PARTS, RegionalModel, freeze
from regional_lstm.models.ealstm import EALSTM, EntityAwareLSTM
from regional_lstm.models.lstm import ConcatLSTM
from regional_lstm.models.spec import ModelSpec
from regional_lstm.registry import MODELS


def build_model(spec: ModelSpec) -> RegionalModel:
    """The model ``spec.conditioning`` names in `MODELS`, freshly initialised from torch's RNG."""
    return MODELS[spec.conditioning](spec)


__all__ = [
    "EALSTM",
    "MODELS",
    "MODULE_PARTS",
    "ConcatLSTM",
    "EntityAwareLSTM",
    "ModelSpec",
    "RegionalModel",
    "TemporalAttention",
    "build_model",
    "freeze",
]
