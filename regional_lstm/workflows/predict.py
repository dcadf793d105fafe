"""``regional-lstm predict``: a trained model's streamflow for a period, observations or not.

The operational run: forcings (or forcing forecasts) for a period, a store that needs only the
model's dynamic inputs and static attributes, and a model given any way a donor can be. In
stateful mode the LSTM state after the period can be saved and the next run continued from it,
so that tomorrow's run reads one new day per basin instead of a lookback window.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from regional_lstm import __version__
from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.ingest.common import read_basin_list
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError, RegionalLSTMError
from regional_lstm.evaluation.carry import load_state, save_state, simulate_carried
from regional_lstm.evaluation.predict import check_mode, simulate_members
from regional_lstm.evaluation.prediction_files import (
    DATASET_SUFFIXES,
    write_predictions_csv,
    write_predictions_dataset,
)
from regional_lstm.evaluation.readings import log_readings, withheld
from regional_lstm.evaluation.uncertainty import BAND, ensemble_columns
from regional_lstm.locations import Location, location
from regional_lstm.pipeline.donors import (
    Donor,
    attribute_range_report,
    model_identity,
    resolve_model,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictOutcome:
    """Where the predictions went, for which basins and days, and what was left out."""

    out: Path
    basins: list[str]
    dates: pd.DatetimeIndex
    days_without_prediction: dict[str, int]
    state_out: Path | None
    model: dict[str, str]


def predict(
    model: str,
    store: str | Path | Location,
    period: str | Period,
    out: str | Path,
    *,
    basins: list[str] | str | Path | None = None,
    mode: str = "exact",
    state_in: str | Path | None = None,
    state_out: str | Path | None = None,
    tracking_uri: str | None = None,
    withhold_readings: bool = False,
) -> PredictOutcome:
    """Predict ``basins`` (default: all in the store) over ``period`` with ``model``.

    ``model``: a project directory, a ``best_model.pt``, an ensemble folder or its manifest,
    ``models:/NAME@ALIAS`` or ``runs:/ID/model`` (from ``tracking_uri``, default the usual).
    ``basins``: ids, or a file of one id per line. A model with lagged streamflow reads the
    store's readings where it has them, unless ``withhold_readings``.
    """
    period = _period(period)
    if mode not in ("exact", "stateful"):
        raise ConfigError(f"--mode {mode!r}: choose exact or stateful")
    if mode == "exact" and (state_in or state_out):
        raise ConfigError("--state-in and --state-out carry the LSTM state: use --mode stateful")
    with tempfile.TemporaryDirectory(prefix="regional-lstm-model-") as download:
        donor = resolve_model(model, tracking_uri, Path(download))
        reader = StoreReader(location(store))
        if isinstance(basins, str | Path):
            basins = read_basin_list(basins)
        basins = list(basins or reader.basins)
        state = load_state(state_in) if state_in else None
        _check_inputs(donor, reader, basins, period, resumed=state is not None)
        members = withheld(donor.members, model) if withhold_readings else donor.members
        check_mode([card for _, card in members], mode)
        if mode == "stateful":
            simulated, after = simulate_carried(members, reader, basins, period, state=state)
        else:
            simulated, after = simulate_members(members, reader, basins, period), None
    times = reader.time_slice(period.start, period.end)
    dates = pd.DatetimeIndex(reader.time[times], name="time")
    targets = list(donor.card.data.targets)
    series = _combined(simulated, basins, targets)
    gaps = _report_gaps(series[targets[0]], basins)
    card = members[0][1]
    if "streamflow" in series:
        predicted = dict(zip(basins, np.isfinite(series["streamflow"]), strict=True))
        log_readings(reader, card, period, predicted)
    identity = model_identity(donor) | {"prediction_mode": mode} | _readings(card)
    out = Path(out).absolute()
    area = _areas(reader, basins)
    if out.suffix in DATASET_SUFFIXES:
        attrs = identity | {
            "title": f"regional-lstm predictions, {mode} mode",
            "store": str(reader.path),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "regional_lstm_version": __version__,
        }
        write_predictions_dataset(out, dates, series, area, basins, attrs)
    else:
        flow = {
            name.removeprefix("streamflow"): values
            for name, values in series.items()
            if name == "streamflow" or name.startswith("streamflow_p")
        }
        if not flow:
            raise RegionalLSTMError("the model predicts no streamflow: write a .zarr or .nc")
        write_predictions_csv(out, dates, flow, area, basins)
    saved = save_state(state_out, after) if state_out and after is not None else None
    logger.info(
        "%s: %d basins x %d days (%s, %s)%s",
        out,
        len(basins),
        len(dates),
        mode,
        identity["model_reference"],
        f"; state after {dates[-1].date()} in {saved}" if saved else "",
    )
    return PredictOutcome(out, basins, dates, gaps, saved, identity)


def _period(period: str | Period) -> Period:
    """A period as the config writes one, or a single year or day ('2024', '2024-06-01')."""
    if isinstance(period, str) and not re.search(r",|\.\.", period):
        period = [period.strip()] * 2
    try:
        return Period.parse(period)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"--period {period!r}: {error}") from None


def _check_inputs(
    donor: Donor, reader: StoreReader, basins: list[str], period: Period, *, resumed: bool
) -> None:
    """The store must hold the model's inputs and the period's days; odd attributes warn."""
    card = donor.card
    reader.positions(basins)
    reader.require(card.data.dynamic, ("basin", "time"), "dynamic input")
    reader.require(card.data.static, ("basin",), "static attribute")
    first, last = reader.time[0], reader.time[-1]
    if period.start < first or period.end > last:
        raise ConfigError(
            f"--period {period} is outside the store's record {first.date()}..{last.date()} "
            f"({reader.path})"
        )
    spin_up = period.start - pd.Timedelta(days=card.data.lookback - 1)
    if not resumed and spin_up < first:
        raise ConfigError(
            f"--period starts on {period.start.date()}, but the model reads "
            f"{card.data.lookback} days of inputs before each prediction and the store begins "
            f"on {first.date()}: start on {(first + (period.start - spin_up)).date()} or later, "
            "or continue a saved state with --state-in"
        )
    outside = attribute_range_report(card, reader, basins)
    if outside:
        shown = ", ".join(f"{b} ({', '.join(a)})" for b, a in list(outside.items())[:10])
        more = f" and {len(outside) - 10} more" if len(outside) > 10 else ""
        logger.warning(
            "%d basin(s) have attributes outside the model's training range: %s%s",
            len(outside),
            shown,
            more,
        )


def _combined(
    simulated: list[dict[str, np.ndarray]], basins: list[str], targets: list[str]
) -> dict[str, np.ndarray]:
    """(basin, time) series per target: the member's, or an ensemble's mean and 5-95 % band
    on the days every member predicts (as `combine_members` computes them)."""
    series = {}
    for j, target in enumerate(targets):
        ensemble = np.stack([np.stack([m[b][:, j] for b in basins]) for m in simulated])
        if len(simulated) == 1:
            series[target] = ensemble[0].astype(np.float64)
            continue
        # One basin after another: ensemble_columns reduces (members, days).
        rows = [ensemble_columns(target, ensemble[:, i], "mean", BAND) for i in range(len(basins))]
        for name in rows[0]:
            series[name.replace("_sim", "") if name.endswith("_sim") else name] = np.stack(
                [row[name] for row in rows]
            )
    return series


def _report_gaps(values: np.ndarray, basins: list[str]) -> dict[str, int]:
    """Warn, per basin, of the days left without a prediction (a gap in the input window)."""
    counts = {b: int(n) for b, n in zip(basins, np.isnan(values).sum(axis=1), strict=True) if n}
    for basin, n in counts.items():
        logger.warning(
            "basin %s: %d of %d days have no gap-free input window and no prediction",
            basin,
            n,
            values.shape[1],
        )
    return counts


def _areas(reader: StoreReader, basins: list[str]) -> np.ndarray:
    """Catchment areas [km2], NaN where the store has none."""
    if "area" not in reader.dims:
        return np.full(len(basins), np.nan)
    return reader.read_static(basins, ["area"])[:, 0]


def _readings(card: ModelCard) -> dict[str, str]:
    """For a model with lagged streamflow: its lags and whether the readings were used."""
    if not card.data.lags:
        return {}
    used = "withheld" if card.data.withhold_lags else "used where the store has them"
    return {"lagged_streamflow_days": ",".join(map(str, card.data.lags)), "readings": used}
