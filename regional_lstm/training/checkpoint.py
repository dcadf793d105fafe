"""Training checkpoints as tensors plus JSON: nothing in them needs unpickling to load."""

from __future__ import annotations

import json
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
