"""Scoring a model on the early-stopping period: the validation loss and per-basin NSE/KGE."""

from __future__ import annotations

import numpy as np
import torch

from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import POOL_BASINS, iter_blocks
from regional_lstm.evaluation.metrics import kge, nse
from regional_lstm.evaluation.predict import EVAL_BATCH_SIZE, predict_block
from regional_lstm.training.plan import TrainingPlan

# On a CPU, windows predict fastest in batches of 64: at hidden 64, lookback 365, one thread,
# 98 us of CPU per window against 143 in batches of 256 and ~240 in EVAL_BATCH_SIZE ones (the
# recurrent state and gates stay in cache); and validation then never nears a training step's
# peak memory (EVAL_BATCH_SIZE raised a worker's peak by ~200 MB).
CPU_BATCH_SIZE = 64


def median_scores(scores: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Median NSE and KGE over basins (NaN when no basin could be scored)."""
    if not scores:
        return float("nan"), float("nan")
    values = np.array(list(scores.values()), dtype=np.float64)
    with np.errstate(all="ignore"):
        return float(np.nanmedian(values[:, 0])), float(np.nanmedian(values[:, 1]))


class ValidationSet:
    """This rank's share of the basins on the early-stopping period, kept in memory if small."""

    def __init__(self, reader: StoreReader, plan: TrainingPlan, basins: list[str]) -> None:
        self.reader, self.plan, self.basins = reader, plan, basins
        self._blocks = None if len(basins) > POOL_BASINS else list(self._load())

    def _load(self):
        plan = self.plan
        period = plan.early_stopping_period
        return iter_blocks(self.reader, self.basins, period, plan.data, plan.norm, need_target=True)

    def evaluate(self, model, loss_fn, device) -> tuple[float, int, dict[str, float]]:
        """Summed NSE* loss, window count, and (NSE, KGE) of the first target per basin.

        Predicted on ``device`` in the training precision; scored on the CPU in float32.
        """
        total, count, by_basin = 0.0, 0, {}
        first = self.plan.data.targets[:1]
        lookback, precision = self.plan.data.lookback, self.plan.mixed_precision
        batch_size = CPU_BATCH_SIZE if device.type == "cpu" else EVAL_BATCH_SIZE
        for block, ends in self._blocks if self._blocks is not None else self._load():
            predictions = predict_block(
                model, block, ends, lookback, batch_size, device, precision=precision
            )
            target_std = torch.from_numpy(block.target_std())
            for i, (basin_ends, y_hat) in enumerate(zip(ends, predictions, strict=True)):
                if len(basin_ends) == 0:
                    continue
                y = torch.from_numpy(block.y[i, basin_ends])
                std = target_std[i].expand_as(y)
                total += float(loss_fn(torch.from_numpy(y_hat), y, std)) * len(basin_ends)
                count += len(basin_ends)
                # KGE's bias term is not invariant to standardisation: score in store units.
                obs = self.plan.norm.unscale_target(block.y[i, basin_ends, :1], first)[:, 0]
                sim = self.plan.norm.unscale_target(y_hat[:, :1], first)[:, 0]
                by_basin[block.basins[i]] = (nse(obs, sim), kge(obs, sim))
        return total, count, by_basin
