"""Training checkpoints as tensors plus JSON: nothing in them needs unpickling to load."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from regional_lstm.artifacts import check_keys, load_tensors, read_json
from regional_lstm.errors import ModelFileError

MODEL, BEST, OPTIMIZER, STATE = "model.pt", "best_model.pt", "optimizer.pt", "state.json"
# The keys of a checkpoint's state.json, with their JSON types.
STATE_KEYS = {
    "epoch": int,
    "history": list,
    "stopped_early": bool,
    "early_stopping": dict,
    "grad_scaler": dict,
}
EARLY_STOPPING_KEYS = {"best": float, "best_epoch": int, "bad_epochs": int}


def write_checkpoint(
    directory: Path,
    model_state: dict[str, torch.Tensor],
    best_state: dict[str, torch.Tensor],
    optimizer_state: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Write a complete checkpoint folder (weights, best weights, optimizer, JSON state)."""
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(model_state, directory / MODEL)
    torch.save(best_state, directory / BEST)
    torch.save(optimizer_state, directory / OPTIMIZER)
    (directory / STATE).write_text(json.dumps(state, indent=1))
    return directory


def read_checkpoint(directory: Path) -> tuple[dict, dict, dict, dict[str, Any]]:
    """Model weights, best weights, optimizer state and JSON state, loaded weights-only.

    A damaged or tampered file (a pickled object, a truncated file, a state with unknown keys)
    is one line naming it (`ModelFileError`); nothing in it runs.
    """
    state = read_state(directory)
    loaded = []
    for name in (MODEL, BEST, OPTIMIZER):
        tensors = load_tensors(directory / name, "checkpoint file")
        if not isinstance(tensors, dict):
            raise ModelFileError(f"{directory / name}: not a dict of tensors")
        loaded.append(tensors)
    return *loaded, state


def read_state(directory: Path) -> dict[str, Any]:
    """A checkpoint's JSON state (epoch, history, early stopping), checked; no tensors loaded."""
    state_file = directory / STATE
    state = read_json(state_file, "checkpoint state")
    try:
        check_keys(
            state, STATE_KEYS, required=("epoch", "history", "stopped_early", "early_stopping")
        )
        check_keys(state["early_stopping"], EARLY_STOPPING_KEYS, required=EARLY_STOPPING_KEYS)
    except ValueError as error:
        raise ModelFileError(f"{state_file}: {error}") from None
    return state


def newest_complete(folders: Iterable[Path]) -> tuple[Path, int] | None:
    """The checkpoint folder of the latest epoch that reads back whole, and that epoch.

    A relaunch resumes from it rather than from Ray's record alone: Ray registers a worker's
    checkpoints on its next poll, so a worker killed soon after saving takes the newest ones
    out of Ray's record although they are on disk; one killed while saving leaves a partial one.
    """
    epochs = {folder: epoch for folder in folders if (epoch := _epoch(folder)) is not None}
    for folder in sorted(epochs, key=lambda f: (epochs[f], f.name), reverse=True):
        try:
            read_checkpoint(folder)
        except Exception:  # partial or damaged: an older one will do
            continue
        return folder, epochs[folder]
    return None


def _epoch(folder: Path) -> int | None:
    try:
        return int(json.loads((folder / STATE).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
