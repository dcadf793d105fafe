"""A trained model as one self-contained file (ONNX or TorchScript) that takes physical units.

The exported graph standardises its inputs with the model's normalisation, runs the LSTM on one
window per row and returns streamflow in mm/day: ``x_dynamic`` (batch, lookback, inputs) in the
store's units, ``x_static`` (batch, attributes). For a model with lagged streamflow the inputs
end with each lag's reading in mm/day, NaN where there is none (the graph sets the missing
flag). A JSON file beside it names the inputs, their units and order, and the model.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping, Sequence
from copy import deepcopy as copy_module
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from regional_lstm.artifacts import ModelCard
from regional_lstm.atomic import write_bytes, write_text
from regional_lstm.data.sampling import LAGGED
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.models.ealstm import EntityAwareLSTM

FORMATS = ("onnx", "torchscript")
TARGET_UNITS = "mm/day"
OPSET = 18


class PhysicalUnits(nn.Module):
    """``model`` with its normalisation baked in: physical inputs in, streamflow mm/day out."""

    def __init__(self, model: nn.Module, card: ModelCard) -> None:
        super().__init__()
        data, norm = card.data, card.normalization
        if LAGGED not in data.targets:
            raise RegionalLSTMError("the model predicts no streamflow: nothing to export")
        self.model = frozen_copy(model)
        self.n_dynamic, self.n_lags = len(data.dynamic), len(data.lags)
        self.target = data.targets.index(LAGGED)
        self._buffer("dynamic_mean", [norm.dynamic_mean[v] for v in data.dynamic])
        self._buffer("dynamic_std", [norm.dynamic_std[v] for v in data.dynamic])
        self._buffer("static_mean", [norm.static_mean[v] for v in data.static])
        self._buffer("static_std", [norm.static_std[v] for v in data.static])
        self._buffer("flow_mean", [norm.target_mean[LAGGED]])
        self._buffer("flow_std", [norm.target_std[LAGGED]])

    def _buffer(self, name: str, values: list[float]) -> None:
        self.register_buffer(name, torch.tensor(values, dtype=torch.float32))

    def forward(self, x_dynamic: Tensor, x_static: Tensor) -> Tensor:
        forcing = (x_dynamic[..., : self.n_dynamic] - self.dynamic_mean) / self.dynamic_std
        if self.n_lags:
            readings = x_dynamic[..., self.n_dynamic :]
            missing = torch.isnan(readings)
            scaled = torch.where(
                missing, torch.zeros_like(readings), (readings - self.flow_mean) / self.flow_std
            )
            # Each lag's reading, then its flag: the channel order the model was trained on.
            lagged = torch.stack([scaled, missing.to(readings.dtype)], dim=-1).flatten(-2)
            forcing = torch.cat([forcing, lagged], dim=-1)
        static = (x_static - self.static_mean) / self.static_std
        y_hat = self.model({"x_dynamic": forcing, "x_static": static})["y_hat"]
        return y_hat[:, self.target] * self.flow_std + self.flow_mean


def frozen_copy(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` whose EA-LSTM layers run on baked masked weights."""
    copy = copy_module(model).eval()
    for module in copy.modules():
        if isinstance(module, EntityAwareLSTM):
            module.bake_masks()
    return copy


class Combined(nn.Module):
    """An ensemble's members, each in physical units, combined into one prediction per row:
    their mean, or their median (the middle pair's mean for an even count, as numpy's)."""

    def __init__(self, members: Sequence[tuple[nn.Module, ModelCard]], statistic: str) -> None:
        super().__init__()
        if statistic not in ("mean", "median"):
            raise RegionalLSTMError(f"unknown ensemble statistic {statistic!r}")
        if len({card.data for _, card in members}) > 1:
            raise RegionalLSTMError("the ensemble's members read different inputs")
        self.members = nn.ModuleList(PhysicalUnits(model, card) for model, card in members)
        self.median = statistic == "median"

    def forward(self, x_dynamic: Tensor, x_static: Tensor) -> Tensor:
        outputs = torch.stack([member(x_dynamic, x_static) for member in self.members])
        if not self.median:
            return outputs.mean(dim=0)
        ordered, n = torch.sort(outputs, dim=0).values, len(self.members)
        return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


def exported_inputs(card: ModelCard, units: Mapping[str, str]) -> dict[str, Any]:
    """The sidecar's description of the tensors, in the order the exported graph takes them."""
    dynamic = [{"name": v, "units": units.get(v, "")} for v in card.data.dynamic]
    dynamic += [
        {"name": f"{LAGGED}_lag{lag}", "units": TARGET_UNITS, "missing": "NaN"}
        for lag in card.data.lags
    ]
    return {
        "dynamic": dynamic,
        "static": [{"name": v, "units": units.get(v, "")} for v in card.data.static],
        "lookback": card.data.lookback,
        "target": {"name": LAGGED, "units": TARGET_UNITS},
        "inputs": {
            "x_dynamic": ["batch", card.data.lookback, len(dynamic)],
            "x_static": ["batch", len(card.data.static)],
        },
        "output": {"streamflow": ["batch"]},
    }


def example_inputs(card: ModelCard, batch: int = 2) -> tuple[Tensor, Tensor]:
    """Inputs of the exported shapes (values near the normalisation means)."""
    norm = card.normalization
    channels = [norm.dynamic_mean[v] for v in card.data.dynamic]
    channels += [norm.target_mean[LAGGED]] * len(card.data.lags)
    x_dynamic = torch.tensor(channels).expand(batch, card.data.lookback, -1).contiguous()
    x_static = torch.tensor([[norm.static_mean[v] for v in card.data.static]] * batch)
    return x_dynamic.float(), x_static.float().reshape(batch, len(card.data.static))


def export_model(
    members: Sequence[tuple[nn.Module, ModelCard]],
    out: Path,
    fmt: str,
    *,
    units: Mapping[str, str],
    identity: Mapping[str, str],
    statistic: str = "mean",
) -> tuple[Path, Path]:
    """Write ``out`` (ONNX or TorchScript) and ``out`` + ``.json``, each atomically; several
    members (an ensemble) are combined by ``statistic`` inside the graph."""
    if fmt not in FORMATS:
        raise RegionalLSTMError(f"--format {fmt!r}: choose {' or '.join(FORMATS)}")
    card = members[0][1]
    if len(members) == 1:
        wrapped: nn.Module = PhysicalUnits(*members[0])
    else:
        wrapped = Combined(members, statistic)
    wrapped.eval()
    example = example_inputs(card)
    buffer = io.BytesIO()
    # The exporters' notices (TorchScript's deprecation, torch.export's internals) are for
    # torch's developers; a failed export still raises.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            _to_onnx(wrapped, example, buffer)
        else:
            torch.jit.save(torch.jit.trace(wrapped, example, check_trace=False), buffer)
    write_bytes(out, buffer.getvalue())
    sidecar = out.with_name(out.name + ".json")
    description = exported_inputs(card, units) | {"format": fmt, "model": dict(identity)}
    write_text(sidecar, json.dumps(description, indent=1))
    return out, sidecar


def _to_onnx(wrapped: nn.Module, example: tuple[Tensor, Tensor], buffer: io.BytesIO) -> None:
    """torch.export's ONNX exporter, the batch dimension left free."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise RegionalLSTMError(
            "ONNX export needs onnx and onnxscript: pip install 'regional-lstm[onnx]'"
        ) from None
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        wrapped,
        example,
        input_names=["x_dynamic", "x_static"],
        output_names=["streamflow"],
        dynamic_shapes={"x_dynamic": {0: batch}, "x_static": {0: batch}},
        opset_version=OPSET,
        dynamo=True,
        verbose=False,
    )
    if program is None:
        raise RegionalLSTMError("the ONNX exporter returned no program")
    buffer.write(program.model_proto.SerializeToString())
