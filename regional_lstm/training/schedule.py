"""Learning-rate schedules: the rate of every optimiser step, a pure function of training progress.

A rate that depends only on (epoch, step) needs no state of its own in a checkpoint: a resumed
run takes the same steps at the same rates. Each schedule is registered by name in
`regional_lstm.registry.LR_SCHEDULES` (the config's LSTM_LEARNING_RATE_SCHEDULE).
"""

from __future__ import annotations

import math

from regional_lstm.registry import LR_SCHEDULES

# Cosine annealing ends at this fraction of the initial rate rather than at zero, so the last
# epochs still move the weights (and early stopping can still pick among them).
COSINE_FINAL_FRACTION = 0.01


def constant(initial: float, progress: float) -> float:
    """``initial`` throughout."""
    return initial


def cosine(initial: float, progress: float) -> float:
    """Half a cosine from ``initial`` down to ``COSINE_FINAL_FRACTION x initial`` over the
    planned epochs (Loshchilov & Hutter 2017, SGDR, without restarts): large steps while the
    loss falls fast, small ones to settle; ``progress`` (0..1) is the fraction of them done."""
    final = COSINE_FINAL_FRACTION * initial
    fraction = min(max(progress, 0.0), 1.0)
    return final + 0.5 * (initial - final) * (1.0 + math.cos(math.pi * fraction))


def epoch_rates(schedule: str, initial: float, epoch: int, epochs: int, steps: int) -> list[float]:
    """The rate of each of the ``steps`` optimiser steps of ``epoch`` (from 0) of ``epochs``."""
    rate = LR_SCHEDULES[schedule]
    return [rate(initial, (epoch + step / steps) / epochs) for step in range(steps)]
