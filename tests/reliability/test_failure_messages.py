"""What a failed Ray Train run says: Ray's own error objects, as a run gets them back."""

from __future__ import annotations

import errno

import torch
from ray.train import WorkerGroupError
from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

from regional_lstm.distributed.failures import explain
from regional_lstm.errors import StoreError, TrainingStopped
from regional_lstm.training.checkpoint import write_checkpoint


def _run_dir(tmp_path, epochs: list[int]):
    run = tmp_path / "train"
    for epoch in epochs:
        weights = {"w": torch.zeros(2)}
        state = {"epoch": epoch, "history": [], "stopped_early": False}
        state["early_stopping"] = {"best": 0.5, "best_epoch": epoch - 1, "bad_epochs": 0}
        write_checkpoint(run / f"checkpoint_{epoch}", weights, weights, {}, state)
    return run


def test_a_user_error_on_a_worker_comes_back_as_itself(tmp_path):
    cause = StoreError("store.zarr: variable 'prcp' cannot be read")
    failed = WorkerGroupError("...", {1: UserExceptionWithTraceback(cause, "Traceback ...")})
    assert explain(failed, _run_dir(tmp_path, [1]), 0) is cause


def test_a_failed_write_on_a_worker_names_it_and_the_checkpoint_to_resume_from(tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device")
    failed = WorkerGroupError("...", {0: UserExceptionWithTraceback(full, "Traceback ...")})
    error = explain(failed, _run_dir(tmp_path, [1, 3, 2]), 1)
    assert isinstance(error, TrainingStopped)
    assert str(error) == (
        "training stopped: Ray Train worker 0 failed: OSError: [Errno 28] No space left on "
        "device after 1 restart(s) (RAY_MAX_FAILURES); relaunch the same command to resume "
        "from its checkpoint of epoch 3"
    )


def test_a_run_without_a_checkpoint_says_a_relaunch_starts_again(tmp_path):
    failed = WorkerGroupError("...", {0: UserExceptionWithTraceback(ValueError("x"), "")})
    assert str(explain(failed, tmp_path / "never", 0)).endswith(
        "no checkpoint was saved: relaunching the same command starts it again"
    )
