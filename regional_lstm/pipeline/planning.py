"""From a validated config and its store to a TrainingPlan (statistics computed once, here)."""

from __future__ import annotations

import logging

import numpy as np

from regional_lstm.config import Config
from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import normalization_from_moments, require_complete_attributes
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec
from regional_lstm.data.scan import basins_without_windows, scan_store
from regional_lstm.errors import ConfigError
from regional_lstm.logs import shortlist
from regional_lstm.models import ModelSpec
from regional_lstm.pipeline.conceptual_spec import conceptual_spec_fields
from regional_lstm.registry import CONCEPTUAL_MODELS
from regional_lstm.training.plan import TrainingPlan

logger = logging.getLogger(__name__)


def targets_of(config: Config) -> tuple[str, ...]:
    """TARGETS, plus ``swe`` when LSTM_USE_SNOW asks for the flow+snow multi-task head."""
    targets = tuple(config.TARGETS)
    if config.LSTM_USE_SNOW and "swe" not in targets:
        targets = (*targets, "swe")
    return targets


def check_period_in_store(reader: StoreReader, key: str, period: Period) -> None:
    """A period outside the store's record is a config error naming both ranges."""
    first, last = reader.time[0], reader.time[-1]
    if period.start < first or period.end > last:
        raise ConfigError(
            f"{key} {period} is outside the store's record {first.date()}..{last.date()} "
            f"({reader.path})"
        )


def make_plan(config: Config) -> TrainingPlan:
    """Check the config against the store, fit normalisation, count windows: the driver's part."""
    config.validate_for_training()
    reader = StoreReader(config.store)
    basins = config.basin_ids() or list(reader.basins)
    reader.positions(basins)
    targets = targets_of(config)
    reader.require(config.DYNAMIC_INPUTS, ("basin", "time"), "dynamic input")
    reader.require(targets, ("basin", "time"), "target")
    reader.require(config.STATIC_ATTRIBUTES, ("basin",), "static attribute")
    require_complete_attributes(reader, basins, config.STATIC_ATTRIBUTES)
    for key in ("CALIBRATION_PERIOD", "VALIDATION_PERIOD"):
        check_period_in_store(reader, key, getattr(config, key))
    calibration = config.CALIBRATION_PERIOD
    data = DataSpec(
        tuple(config.DYNAMIC_INPUTS),
        tuple(config.STATIC_ATTRIBUTES),
        targets,
        int(config.LSTM_LOOKBACK),
        lags=tuple(config.LSTM_LAGGED_STREAMFLOW),
    )
    last_n = int(config.LSTM_PREDICT_LAST_N)
    # One read of every block serves both the normalisation and the window statistics.
    scan = scan_store(
        reader, basins, config.train_period, data, calibration=calibration, last_n=last_n
    )
    norm = normalization_from_moments(
        reader,
        basins,
        calibration.start,
        calibration.end,
        data.dynamic,
        data.static,
        targets,
        scan.moments,
    )
    windows = scan.windows(norm, targets)
    if not any(windows.counts.values()):
        raise ConfigError(
            f"no training windows: no basin has {data.lookback} gap-free input days ending on an "
            f"observed target in {config.train_period}"
        )
    warn_unusable_basins(reader, basins, config, data, windows.counts)
    model = ModelSpec(
        n_dynamic=len(data.inputs),
        n_static=len(data.static),
        hidden_size=int(config.LSTM_HIDDEN_SIZE),
        num_layers=int(config.LSTM_NUM_LAYERS),
        dropout=float(config.LSTM_DROPOUT),
        conditioning=config.LSTM_STATIC_CONDITIONING,
        static_embedding=config.LSTM_STATIC_EMBEDDING,
        use_attention=bool(config.LSTM_USE_ATTENTION),
        targets=targets,
        **(
            conceptual_spec_fields(config, reader, data, norm)
            if config.HYDROLOGICAL_MODEL in CONCEPTUAL_MODELS
            else {}
        ),
    )
    weights = tuple(config.SWE_LOSS_WEIGHT if t == "swe" else 1.0 for t in targets)
    return TrainingPlan(
        store=config.store,
        basins=basins,
        data=data,
        model=model,
        norm=norm,
        counts=windows.counts,
        target_std=windows.target_std,
        validation_basins=validation_sample(config, basins, windows.counts),
        loss_weights=weights,
        **schedule(config),
    )


def warn_unusable_basins(
    reader: StoreReader,
    basins: list[str],
    config: Config,
    data: DataSpec,
    counts: dict[str, int],
) -> None:
    """Name the basins with no usable window for training, and those with no complete input
    window in VALIDATION_PERIOD (their metrics rows will be empty), before any training."""
    idle = [basin for basin in basins if not counts[basin]]
    if idle:
        logger.warning(
            f"{len(idle)} basin(s) have no {data.lookback}-day window of complete inputs ending "
            f"on an observed target in {config.train_period}, so they take no part in training: "
            f"{shortlist(idle)}"
        )
    warn_unpredictable_basins(reader, basins, config.VALIDATION_PERIOD, data)


def warn_unpredictable_basins(
    reader: StoreReader, basins: list[str], period: Period, data: DataSpec
) -> None:
    """Name the basins with no complete input window in the evaluation ``period``."""
    unusable = basins_without_windows(reader, basins, period, data)
    if unusable:
        logger.warning(
            f"{len(unusable)} basin(s) have no complete {data.lookback}-day input window in "
            f"the evaluation period {period}, so they cannot be predicted or scored there "
            f"(their metrics rows say so): {shortlist(unusable)}"
        )


def validation_sample(
    config: Config, basins: list[str], counts: dict[str, int]
) -> tuple[str, ...] | None:
    """LSTM_VALIDATION_BASINS training basins, drawn with SEED (in store order); None: all."""
    wanted = config.LSTM_VALIDATION_BASINS
    if wanted is None or wanted >= len(basins):
        return None
    rng = np.random.default_rng([int(config.SEED), 1])
    picked = set(rng.choice(len(basins), size=wanted, replace=False).tolist())
    return tuple(b for i, b in enumerate(basins) if i in picked)


def schedule(config: Config) -> dict:
    """The TrainingPlan fields that come straight from the config: periods and optimisation."""
    return {
        "train_period": config.train_period,
        "early_stopping_period": config.early_stopping_period,
        "epochs": int(config.LSTM_EPOCHS),
        "batch_size": int(config.LSTM_BATCH_SIZE),
        "learning_rate": float(config.LSTM_LEARNING_RATE),
        "lr_schedule": config.LSTM_LEARNING_RATE_SCHEDULE,
        "predict_last_n": int(config.LSTM_PREDICT_LAST_N),
        "weight_decay": float(config.LSTM_L2_REGULARIZATION),
        "patience": int(config.LSTM_LEARNING_PATIENCE),
        "loss": config.LSTM_LOSS,
        "gradient_clip": float(config.LSTM_GRADIENT_CLIP),
        "mixed_precision": config.LSTM_MIXED_PRECISION,
        "lag_dropout": float(config.LSTM_LAGGED_STREAMFLOW_DROPOUT),
        "samples_per_epoch": config.LSTM_SAMPLES_PER_EPOCH,
        "seed": int(config.SEED),
    }
