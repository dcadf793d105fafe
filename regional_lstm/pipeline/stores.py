"""The store a config trains on: built from DATA_SOURCE when it does not exist yet."""

from __future__ import annotations

import logging

from regional_lstm.config import Config
from regional_lstm.data.ingest import ingest
from regional_lstm.data.synth import synthesize
from regional_lstm.errors import ConfigError

logger = logging.getLogger(__name__)


def ensure_store(config: Config) -> bool:
    """Build DATA_STORE from DATA_SOURCE when it does not exist; True when it was built."""
    if config.store.has_store():
        return False
    source = config.DATA_SOURCE
    if source is None:
        raise ConfigError(
            f"DATA_STORE {config.DATA_STORE} does not exist and no DATA_SOURCE says how to build "
            "it (or run 'regional-lstm ingest' / 'synth' first)"
        )
    if source.kind == "synthetic":
        logger.info(f"Making a synthetic store of {source.basins} basins x {source.years} years")
        synthesize(
            config.store,
            basins=source.basins,
            years=source.years,
            seed=source.seed,
            gap_fraction=source.gaps,
        )
    else:
        logger.info(f"Ingesting {source.kind} from {source.path}")
        ingest(
            source.kind,
            source.path,
            config.store,
            basins_file=source.basins_file,
            forcing=source.forcing,
            mapping=source.mapping,
        )
    return True
