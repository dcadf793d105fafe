"""Where a model computes and in what precision: batch copies, cuDNN, autocast (torch only).

Shared by training (train steps, validation) and evaluation (prediction), so it sits beside the
layers. Precision names are LSTM_MIXED_PRECISION's: "none" (float32), "bf16" or "fp16".
"""

from __future__ import annotations

import contextlib
import functools
from contextlib import AbstractContextManager

import torch

from regional_lstm.errors import RegionalLSTMError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse what cannot run: fp16 off CUDA (torch's CPU LSTM has no float16 kernel), and bf16
    on a CPU whose oneDNN has no bfloat16 LSTM (an AVX2-only one: it fails at the first batch)."""
    if precision not in ("none", *AUTOCAST_DTYPES):
        raise RegionalLSTMError(f"unknown precision {precision!r} (choose none, bf16 or fp16)")
    if precision == "fp16" and device.type != "cuda":
        raise RegionalLSTMError(
            f"LSTM_MIXED_PRECISION fp16 needs a CUDA GPU, not {device.type}: torch's CPU LSTM "
            "has no float16 kernel (use bf16 or none without RAY_USE_GPU)"
        )
    if precision == "bf16" and device.type == "cpu" and not cpu_runs_bf16_lstm():
        raise RegionalLSTMError(
            "LSTM_MIXED_PRECISION bf16: torch's LSTM has no bfloat16 kernel on this CPU "
            "(oneDNN's needs AVX-512 or newer); use none, or a GPU with RAY_USE_GPU"
        )


@functools.cache
def cpu_runs_bf16_lstm() -> bool:
    """Whether an LSTM runs under CPU bf16 autocast here: tried once on a 1-unit layer, since
    torch names no public flag for what oneDNN's kernels support on this CPU."""
    layer = torch.nn.LSTM(1, 1)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            layer(torch.zeros(1, 1, 1))
    except RuntimeError:
        return False
    return True


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """``torch.autocast`` to the precision's dtype on ``device``; no context for "none"."""
    if precision == "none":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch of CPU tensors on ``device``; to CUDA through page-locked memory.

    A non-blocking copy is asynchronous only from pinned memory (from pageable memory CUDA
    copies synchronously), so the host goes on building the next batch while the copy runs.
    """
    if device.type != "cuda":
        return {name: tensor.to(device) for name, tensor in batch.items()}
    return {name: t.pin_memory().to(device, non_blocking=True) for name, t in batch.items()}


def configure_device(device: torch.device) -> None:
    """On CUDA: cuDNN on, and autotuned (training windows keep one shape, so tuning pays)."""
    if device.type == "cuda":
        torch.backends.cudnn.enabled = True
        torch.backends.cudnn.benchmark = True


def inference_settings(use_gpu: bool, precision: str) -> tuple[torch.device, str]:
    """Device and precision for predicting in this process.

    This process's GPU when RAY_USE_GPU asks for one and it has one, in the training precision;
    otherwise the CPU in float32: scores computed there stay the exact reference (and fp16 has
    no CPU LSTM), whatever precision the weights were trained in.
    """
    if use_gpu and torch.cuda.is_available():
        return torch.device("cuda"), precision
    return torch.device("cpu"), "none"
