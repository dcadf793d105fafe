"""``regional-lstm simulate``: a conceptual model with per-basin parameters from a file."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from regional_lstm.config import Config
from regional_lstm.config_periods import Period
from regional_lstm.data.parameters import read_parameters
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError
from regional_lstm.logs import shortlist
from regional_lstm.pipeline.conceptual import simulate_with_parameters
from regional_lstm.pipeline.results import Evaluation, log_evaluation, write_results
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.registry import CONCEPTUAL_MODELS
from regional_lstm.tracking.runs import closing, fingerprint, log_results, start_run

logger = logging.getLogger(__name__)
SIMULATION_DIR = "simulation"  # beside results/, so a simulation never overwrites a trained model's


def simulate_tracked(
    config: Config,
    parameters_file: str | Path,
    *,
    period: Period | str | None = None,
    plots: bool = True,
) -> Evaluation:
    """Run HYDROLOGICAL_MODEL with the file's parameters on BASINS (default: the store's basins
    that have a row in the file); write the evaluation's result files to
    PROJECT_DIR/simulation/, tracked as an MLflow run.

    The run starts on the first day of CALIBRATION_PERIOD, where the file's initial stores
    apply, and is scored over ``period`` (default VALIDATION_PERIOD). DATA_STORE is built from
    DATA_SOURCE first when it does not exist, as `run` does.
    """
    if config.HYDROLOGICAL_MODEL not in CONCEPTUAL_MODELS:
        raise ConfigError(
            f"{config.HYDROLOGICAL_MODEL}: simulate runs a conceptual model "
            f"(HYDROLOGICAL_MODEL: {', '.join(CONCEPTUAL_MODELS)})"
        )
    period = Period.option(period)
    period = period or config.VALIDATION_PERIOD
    kind = CONCEPTUAL_MODELS[config.HYDROLOGICAL_MODEL]
    table = read_parameters(parameters_file, kind.parameter_names, [p.name for p in kind.initial])
    ensure_store(config)
    reader = StoreReader(config.store)
    basins = _basins_with_parameters(config, reader, table, parameters_file)
    table = table.loc[basins]
    data = fingerprint(config.store, basins, {"evaluation_period": str(period)})
    tracked = start_run(config, "simulate", data_fingerprint=data)
    tracked.set_tags({"regional_lstm.parameters_file": str(Path(parameters_file).absolute())})
    with closing(tracked):
        frames = simulate_with_parameters(kind, config, reader, table, period)
        results = config.PROJECT_DIR / SIMULATION_DIR
        evaluation = write_results(results, reader, [frames], plots=plots, model=kind.name)
        log_evaluation(evaluation, f"{kind.name} simulation {period}")
        log_results(tracked, evaluation.summary, evaluation.results_dir)
    logger.info(f"MLflow run {tracked.run_id} in {tracked.uri}")
    return evaluation


def _basins_with_parameters(
    config: Config, reader: StoreReader, table: pd.DataFrame, parameters_file: str | Path
) -> list[str]:
    """BASINS, each of which needs a row; or the store's basins that have one (named if some
    do not)."""
    wanted = config.basin_ids()
    if wanted is not None:
        absent = [basin for basin in wanted if basin not in table.index]
        if absent:
            raise ConfigError(f"{parameters_file}: no row for basin {absent[0]!r} of BASINS")
        return wanted
    basins = [basin for basin in reader.basins if basin in table.index]
    lacking = [basin for basin in reader.basins if basin not in table.index]
    if not basins:
        raise ConfigError(f"{parameters_file}: no row for any basin of {reader.path}")
    if lacking:
        logger.warning(
            f"{len(lacking)} basin(s) of the store have no parameters in {parameters_file} "
            f"and are not simulated: {shortlist(lacking)}"
        )
    return basins
