"""``regional-lstm run``: the workflow a config describes (store if missing, train, evaluate)."""

from __future__ import annotations

from regional_lstm.config import Config
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.workflows.train import TrainOutcome, train


def run(config: Config, *, restart: bool = False) -> TrainOutcome:
    """Store (ingest or synthesize if missing), then train and evaluate."""
    ensure_store(config)
    return train(config, restart=restart)
