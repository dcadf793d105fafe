"""Training checkpoints as tensors plus JSON: nothing in them needs unpickling to load."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

MODEL, BEST, OPTIMIZER, STATE = "model.pt", "best_model.pt", "optimizer.pt", "state.json"


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
    """Model weights, best weights, optimizer state and JSON state, loaded weights-only."""
    load = lambda name: torch.load(directory / name, map_location="cpu", weights_only=True)  # noqa: E731
    state = json.loads((directory / STATE).read_text())
    return load(MODEL), load(BEST), load(OPTIMIZER), state


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
