"""The parts that configs and the command line pick by name: model kinds and ingest adapters.

A registry maps each name to where its builder lives (``"module:attribute"``) and imports the
builder only when asked for it, so the config validates against the names without importing
torch, and an ingest imports only the adapter it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any


class Registry(Mapping[str, Any]):
    """The names of one kind of part; ``registry[name]`` imports and returns its builder."""

    def __init__(self, kind: str, builders: Mapping[str, str]) -> None:
        self.kind = kind
        self._builders = dict(builders)

    def __getitem__(self, name: str) -> Any:
        module, _, attribute = self._builders[name].partition(":")
        return getattr(importlib.import_module(module), attribute)

    def __contains__(self, name: object) -> bool:
        return name in self._builders

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)

    def unknown(self, name: str) -> str:
        """The message for a name nothing is registered as, listing the names that are."""
        return f"unknown {self.kind} {name!r} (choose from {', '.join(self)})"


# LSTM_STATIC_CONDITIONING: how the static attributes enter the recurrence.
MODELS = Registry(
    "model conditioning",
    {
        "concat": "regional_lstm.models.lstm:ConcatLSTM",
        "ealstm": "regional_lstm.models.ealstm:EALSTM",
    },
)
# HYDROLOGICAL_MODEL: the conceptual models (each a regional_lstm.models.conceptual ConceptualKind).
CONCEPTUAL_MODELS = Registry(
    "conceptual model",
    {
        "EXPHYDRO": "regional_lstm.models.conceptual.exphydro:EXPHYDRO",
        "GR4J": "regional_lstm.models.conceptual.gr4j:GR4J",
        "HBV": "regional_lstm.models.conceptual.hbv:HBV",
    },
)
# HYDROLOGICAL_MODEL: every kind a config may name.
MODEL_KINDS = ("LSTM", *CONCEPTUAL_MODELS)
# `regional-lstm ingest KIND`: each builder takes source_path, wanted (basin ids or None) and
# the options it names as keywords (--forcing, --mapping).
INGEST_ADAPTERS = Registry(
    "ingest kind",
    {
        "camels-us": "regional_lstm.data.ingest.camels_us:CamelsUS",
        "camels-ch": "regional_lstm.data.ingest.camels_ch:CamelsCH",
        "caravan": "regional_lstm.data.ingest.caravan:Caravan",
        "csv": "regional_lstm.data.ingest.csv_source:open_csv_source",
    },
)
# LSTM_LEARNING_RATE_SCHEDULE: each takes the initial rate and the fraction of the planned
# epochs done, and returns the rate of that step.
LR_SCHEDULES = Registry(
    "learning-rate schedule",
    {
        "constant": "regional_lstm.training.schedule:constant",
        "cosine": "regional_lstm.training.schedule:cosine",
    },
)
