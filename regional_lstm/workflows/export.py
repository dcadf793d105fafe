"""``regional-lstm export``: a trained model (or ensemble) as one ONNX or TorchScript file.

The file runs without this package: `onnxruntime` or plain `torch.jit.load`. Its sidecar
``FILE.json`` says what the tensors hold (names, units, order, lookback) and which model it is.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import RegionalLSTMError, StoreError
from regional_lstm.evaluation.export import FORMATS, export_model
from regional_lstm.locations import location, saved_location
from regional_lstm.pipeline.donors import model_identity, resolve_model

logger = logging.getLogger(__name__)


def export(
    model: str,
    fmt: str,
    out: str | Path,
    *,
    store: str | None = None,
    tracking_uri: str | None = None,
) -> tuple[Path, Path]:
    """Export ``model`` (any form `predict` takes) to ``out``; returns it and its sidecar.

    The inputs' units come from ``store`` (default: the store the model was trained on).
    """
    if fmt not in FORMATS:
        raise RegionalLSTMError(f"--format {fmt!r}: choose {' or '.join(FORMATS)}")
    with tempfile.TemporaryDirectory(prefix="regional-lstm-model-") as download:
        donor = resolve_model(model, tracking_uri, Path(download))
        card = donor.card
        where = location(store) if store else saved_location(card.config)
        try:
            units = StoreReader(where).units
        except StoreError as error:
            raise StoreError(
                f"{error} (the units of the model's inputs come from it: give --store)"
            ) from None
        missing = [v for v in (*card.data.dynamic, *card.data.static) if v not in units]
        if missing:
            raise StoreError(f"{where.url}: no variable {missing[0]!r}, an input of the model")
        identity = model_identity(donor)
        written = export_model(
            donor.members,
            Path(out).absolute(),
            fmt,
            units=units,
            identity=identity,
            statistic=donor.statistic,
        )
    logger.info(f"{written[0]} ({fmt}) and {written[1].name}: {identity['model_reference']}")
    return written
