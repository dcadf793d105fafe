"""``regional-lstm run``: the workflow a config describes (store if missing, train, evaluate)."""

from __future__ import annotations

from collections.abc import Callable

from regional_lstm.config import Config
from regional_lstm.errors import ConfigError
from regional_lstm.workflows.train import TrainOutcome, train


def ensure_store(config: Config, on_basin: Callable[[str], None] | None = None, log=print) -> bool:
    """Build DATA_STORE from DATA_SOURCE when it does not exist; True when it was built."""
    if (config.DATA_STORE / "zarr.json").is_file():
        return False
    source = config.DATA_SOURCE
    if source is None:
        raise ConfigError(
            f"DATA_STORE {config.DATA_STORE} does not exist and no DATA_SOURCE says how to build "
            "it (or run 'regional-lstm ingest' / 'synth' first)"
        )
    if source.kind == "synthetic":
        from regional_lstm.data.synth import synthesize

        log(f"Making a synthetic store of {source.basins} basins x {source.years} years")
        synthesize(
            config.DATA_STORE,
            basins=source.basins,
            years=source.years,
            seed=source.seed,
            gap_fraction=source.gaps,
            on_basin=on_basin,
        )
    else:
        from regional_lstm.data.ingest import ingest

        log(f"Ingesting {source.kind} from {source.path}")
        ingest(
            source.kind,
            source.path,
            config.DATA_STORE,
            basins_file=source.basins_file,
            forcing=source.forcing,
            mapping=source.mapping,
            on_basin=on_basin,
        )
    return True


def run(config: Config, *, restart: bool = False, log=print) -> TrainOutcome:
    """Store (ingest or synthesize if missing), then train and evaluate."""
    ensure_store(config, log=log)
    return train(config, restart=restart, log=log)
