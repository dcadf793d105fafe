"""Regional models: plain ``nn.Module``s from a `ModelSpec`; dict of tensors in, dict out."""

from __future__ import annotations

from torch import nn

from regional_lstm.models.attention import TemporalAttention
from regional_lstm.models.base import MODULE_PARTS, RegionalModel, freeze
from regional_lstm.models.ealstm import EALSTM, EntityAwareLSTM
from regional_lstm.models.lstm import ConcatLSTM
from regional_lstm.models.spec import ModelSpec
from regional_lstm.registry import CONCEPTUAL_MODELS, MODELS


def build_model(spec: ModelSpec) -> nn.Module:
    """The model ``spec`` describes, freshly initialised from torch's RNG: an LSTM of the
    conditioning `MODELS` names, or a conceptual kind with its parameter network."""
    if spec.kind in CONCEPTUAL_MODELS:
        from regional_lstm.models.conceptual.regional import RegionalConceptual

        return RegionalConceptual(spec)
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
