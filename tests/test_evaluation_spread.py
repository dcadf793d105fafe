"""When evaluation is worth spreading over Ray workers: the start-up threshold and the shards."""

from __future__ import annotations

import pandas as pd

from regional_lstm.artifacts import ModelCard
from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import Normalization
from regional_lstm.data.sampling import DataSpec
from regional_lstm.distributed.predict import SHARD_BASINS, shards, worth_spreading
from regional_lstm.models import ModelSpec

DYNAMIC = ("prcp", "tmin", "tmax", "srad", "pet", "dayl")
STATIC = ("area", "elev_mean", "aridity", "frac_forest", "soil_depth")
TEN_YEARS = Period(pd.Timestamp("2000-01-01"), pd.Timestamp("2009-12-31"))


def card(hidden: int = 64, lookback: int = 365) -> ModelCard:
    """The card of the benchmarks' model: 6 forcings, 5 attributes, 3 layers, streamflow."""
    empty = {name: {} for name in ("dynamic", "static", "target")}
    stats = {f"{kind}_{what}": values for kind, values in empty.items() for what in ("mean", "std")}
    return ModelCard(
        model=ModelSpec(len(DYNAMIC), len(STATIC), hidden, 3, 0.0, False),
        data=DataSpec(DYNAMIC, STATIC, ("streamflow",), lookback),
        normalization=Normalization(**stats),
        trained_basins=[],
        config={},
        training={},
    )


def test_a_two_basin_evaluation_does_not_start_ray():
    assert not worth_spreading([card()], 2, TEN_YEARS, "exact", running=False)


def test_fifty_basins_over_ten_years_are_spread():
    assert worth_spreading([card()], 50, TEN_YEARS, "exact", running=False)


def test_a_large_model_spreads_even_two_basins():
    assert worth_spreading([card(hidden=256)], 2, TEN_YEARS, "exact", running=False)


def test_stateful_evaluation_of_fifty_basins_stays_in_process():
    assert not worth_spreading([card()], 50, TEN_YEARS, "stateful", running=False)


def test_a_running_ray_is_used_for_less_work_than_a_fresh_one():
    assert worth_spreading([card()], 8, TEN_YEARS, "exact", running=True)
    assert not worth_spreading([card()], 8, TEN_YEARS, "exact", running=False)


def test_a_single_basin_is_never_spread():
    assert not worth_spreading([card(hidden=256)], 1, TEN_YEARS, "exact", running=True)


def test_shards_are_contiguous_bounded_and_cover_every_basin():
    basins = [f"b{i}" for i in range(300)]
    parts = shards(basins, 2)
    assert [basin for part in parts for basin in part] == basins
    assert max(len(part) for part in parts) <= SHARD_BASINS
