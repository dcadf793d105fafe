"""Devices and mixed precision: autocast training, fp16 loss scaling, float32 predictions.

bf16 autocast runs on CPU, so its training and resume are tested here; fp16 needs a GPU for the
LSTM (torch's CPU LSTM has no float16 kernel), so its loss scaling is tested on a linear model
and its full training only where CUDA is present.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from regional_lstm.accelerator import cpu_runs_bf16_lstm
from regional_lstm.data.sampling import BasinBlock
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.evaluation.predict import predict_block
from regional_lstm.models import ModelSpec, build_model
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.training.checkpoint import read_checkpoint
from regional_lstm.training.fit import WorkerContext, fit
from regional_lstm.training.loop import grad_scaler, train_epoch
from regional_lstm.training.loss import nse_star
from tests.conftest import tiny_config

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
needs_bf16_cpu = pytest.mark.skipif(
    not cpu_runs_bf16_lstm(), reason="this CPU's oneDNN has no bfloat16 LSTM (AVX2 only)"
)


def train(plan, epochs: int, keep: Path, device=CPU, resume_from: Path | None = None) -> dict:
    """Fit ``epochs`` on ``device``; the last checkpoint is copied to ``keep``."""

    def report(metrics, folder):
        if folder is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(folder, keep)

    ctx = WorkerContext(device=device, report=report, resume_from=resume_from)
    return fit(replace(plan, epochs=epochs), ctx)


def check_resume(plan, tmp_path: Path, device=CPU) -> tuple[dict, dict, dict, dict]:
    """Train 2 epochs, resume to 3, and train 3 straight: both states and final weights."""
    train(plan, 2, tmp_path / "killed", device)
    resumed = train(plan, 3, tmp_path / "resumed", device, resume_from=tmp_path / "killed")
    straight = train(plan, 3, tmp_path / "straight", device)
    a, b = read_checkpoint(tmp_path / "resumed")[0], read_checkpoint(tmp_path / "straight")[0]
    return resumed, straight, a, b


def test_config_key_reaches_the_training_plan(tiny_store, tmp_path):
    plan = make_plan(tiny_config(tiny_store, tmp_path, LSTM_MIXED_PRECISION="bf16"))
    assert plan.mixed_precision == "bf16"


@needs_bf16_cpu
def test_bf16_training_has_finite_losses_and_resumes_exactly(tiny_store, tmp_path):
    plan = make_plan(tiny_config(tiny_store, tmp_path, LSTM_MIXED_PRECISION="bf16"))
    resumed, straight, a, b = check_resume(plan, tmp_path)
    losses = [h[k] for h in straight["history"] for k in ("train_loss", "val_loss")]
    assert all(math.isfinite(loss) for loss in losses)
    assert straight["history"][-1]["train_loss"] < straight["history"][0]["train_loss"]
    scores = ("train_loss", "val_loss", "val_nse")  # the history also holds epoch timings
    assert [[h[k] for k in scores] for h in resumed["history"]] == [
        [h[k] for k in scores] for h in straight["history"]
    ]
    assert all(torch.equal(a[k], b[k]) for k in a)


@needs_bf16_cpu
def test_bf16_predictions_differ_from_float32_but_come_back_as_float32():
    spec = ModelSpec(
        n_dynamic=2, n_static=1, hidden_size=8, num_layers=1, dropout=0.0, use_attention=False
    )
    torch.manual_seed(0)
    model = build_model(spec)
    rng = np.random.default_rng(0)
    block = BasinBlock(
        basins=["a", "b"],
        time=None,
        x=rng.standard_normal((2, 40, 2)).astype(np.float32),
        static=rng.standard_normal((2, 1)).astype(np.float32),
        y=np.zeros((2, 40, 1), np.float32),
        period_start=0,
    )
    ends = [np.arange(9, 40), np.arange(20, 40)]
    exact = predict_block(model, block, ends, 10, 16, CPU)
    bf16 = predict_block(model, block, ends, 10, 16, CPU, precision="bf16")
    assert [p.dtype for p in bf16] == [np.dtype(np.float32)] * 2
    assert [p.shape for p in bf16] == [(31, 1), (20, 1)]
    assert not all(np.array_equal(e, p) for e, p in zip(exact, bf16, strict=True))
    for e, p in zip(exact, bf16, strict=True):
        np.testing.assert_allclose(p, e, atol=0.05)


class LastDayLinear(nn.Module):
    """The smallest model the loop trains: a linear map of the window's last day and attributes
    (fp16 autocast runs it on CPU, where it cannot run an LSTM)."""

    def __init__(self, n_dynamic: int, n_static: int) -> None:
        super().__init__()
        self.head = nn.Linear(n_dynamic + n_static, 1)

    def forward(self, inputs: dict[str, torch.Tensor], last_n: int = 1) -> dict[str, torch.Tensor]:
        features = torch.cat([inputs["x_dynamic"][:, -1], inputs["x_static"]], dim=-1)
        return {"y_hat": self.head(features)}


def test_fp16_gradients_are_unscaled_before_they_are_clipped():
    torch.manual_seed(0)
    model = LastDayLinear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    batch = {
        "x_dynamic": torch.randn(32, 5, 3),
        "x_static": torch.randn(32, 2),
        # far enough off for a gradient norm well above the clip, near enough that the scaled
        # fp16 gradients (x 65536) do not overflow
        "y": torch.full((32, 1), 0.2),
        "target_std": torch.ones(32, 1),
    }
    clip, scaler = 1e-3, grad_scaler(CPU, "fp16")
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    total, steps = train_epoch(
        model, [batch], optimizer, nse_star([1.0]), clip, CPU, precision="fp16", scaler=scaler
    )
    assert steps == 1 and math.isfinite(total)
    after = list(model.parameters())
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(after, before, strict=True)])
    # SGD with lr 1 moves the weights by the clipped gradient: clipping the scaled gradient
    # (then unscaled by 65536 in step) would move them 65536 times less.
    assert float(moved.norm()) == pytest.approx(clip, rel=1e-3)
    assert scaler.state_dict()["_growth_tracker"] == 1  # the step was taken, not skipped


def test_fp16_training_on_cpu_is_refused_in_one_line(tiny_store, tmp_path):
    plan = make_plan(tiny_config(tiny_store, tmp_path, LSTM_MIXED_PRECISION="fp16"))
    with pytest.raises(RegionalLSTMError) as raised:
        fit(plan, WorkerContext())
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("LSTM_MIXED_PRECISION fp16 needs a CUDA GPU, not cpu")


@pytest.mark.skipif(cpu_runs_bf16_lstm(), reason="this CPU runs a bfloat16 LSTM")
def test_bf16_training_on_a_cpu_without_its_kernel_is_refused_in_one_line(tiny_store, tmp_path):
    """Was oneDNN's 'could not create a primitive descriptor' traceback at the first batch."""
    plan = make_plan(tiny_config(tiny_store, tmp_path, LSTM_MIXED_PRECISION="bf16"))
    with pytest.raises(RegionalLSTMError, match=r"^LSTM_MIXED_PRECISION bf16: torch's LSTM has "):
        fit(plan, WorkerContext())
    assert not list(tmp_path.rglob("*.pt"))


@needs_cuda
@pytest.mark.parametrize("precision", ["none", "bf16", "fp16"])
def test_gpu_training_resumes_where_it_stopped(tiny_store, tmp_path, precision):
    plan = make_plan(tiny_config(tiny_store, tmp_path, LSTM_MIXED_PRECISION=precision))
    resumed, straight, a, b = check_resume(plan, tmp_path, torch.device("cuda"))
    assert all(math.isfinite(h["train_loss"]) for h in straight["history"])
    assert resumed.get("grad_scaler") == straight.get("grad_scaler")
    assert ("grad_scaler" in straight) == (precision == "fp16")
    # cuDNN's autotuned kernels need not add in the same order from run to run
    assert all(torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-4) for k in a)
