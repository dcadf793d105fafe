"""Additive temporal attention over the recurrent outputs of a whole window."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TemporalAttention(nn.Module):
    """score_t = v^T tanh(W h_t + b); a = softmax_t(score); context = sum_t a_t h_t."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.project = nn.Linear(hidden_size, hidden_size)
        # A bias on v would shift every score equally and cancel in the softmax.
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """``hidden`` (batch, seq, hidden) -> context (batch, hidden), weights (batch, seq)."""
        scores = self.score(torch.tanh(self.project(hidden))).squeeze(-1)
        weights = torch.softmax(scores, dim=1)
        context = torch.bmm(weights.unsqueeze(1), hidden).squeeze(1)
        return context, weights
