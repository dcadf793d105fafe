"""The training sampler: a pool of tiles whose memory and reads do not grow with the basins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import fit_normalization
from regional_lstm.data.pool import TrainSampler
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import DataSpec
from regional_lstm.data.scan import window_statistics
from regional_lstm.data.synth import synthesize

SPEC = DataSpec(("prcp", "tmin", "pet"), ("area", "aridity"), ("streamflow",), lookback=30)
PERIOD = Period.parse(["1991-01-01", "1994-12-31"])
NAMES = (SPEC.dynamic, SPEC.static, SPEC.targets)


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[int, Path]:
    """Stores of 16 and 200 basins over the same six years."""
    root = tmp_path_factory.mktemp("pool")
    return {n: synthesize(root / f"s{n}.zarr", basins=n, years=6, seed=2) for n in (16, 200)}


def sampler_for(store: Path, **options) -> TrainSampler:
    reader = StoreReader(store)
    norm = fit_normalization(
        reader, reader.basins, PERIOD.start, PERIOD.end, SPEC.dynamic, SPEC.static, SPEC.targets
    )
    last_n = options.get("last_n", 1)
    stats = window_statistics(reader, reader.basins, PERIOD, SPEC, norm, last_n=last_n)
    settings = {"batch_size": 32, "seed": 7, "samples_per_epoch": 32 * 12} | options
    return TrainSampler(
        reader, stats.counts, PERIOD, SPEC, norm, target_std=stats.target_std, **settings
    )


def test_the_sampler_holds_and_reads_the_same_bytes_for_few_and_many_basins(stores):
    few, many = (sampler_for(stores[n], pool_tiles=1, refresh=1) for n in (16, 200))
    assert len(many.tiles) > 10 * len(few.tiles) > 0
    assert not few.resident and not many.resident
    assert few.held_bytes == many.held_bytes
    for sampler in (few, many):
        list(sampler.epoch(0))
    # Filling the one slot, then one tile per batch: reads follow the steps, not the store's size.
    assert few.tiles_loaded == many.tiles_loaded == 1 + few.steps_per_epoch
    tile_bytes = SPEC.lookback - 1 + few.span
    bound = few.tiles_loaded * 16 * tile_bytes * (len(SPEC.dynamic) + len(SPEC.targets)) * 4
    assert few.bytes_read <= bound and many.bytes_read <= bound


def test_a_small_share_stays_resident_and_is_read_once(stores):
    sampler = sampler_for(stores[16])
    assert sampler.resident
    for epoch in range(3):
        list(sampler.epoch(epoch))
    assert sampler.tiles_loaded == len(sampler.tiles)


def test_ranks_run_the_same_steps_and_split_the_tiles(stores):
    ranks = [sampler_for(stores[200], pool_tiles=4, rank=r, world_size=2) for r in (0, 1)]
    share = [{ranks[r].sequence(i) for i in range(ranks[r]._share)} for r in (0, 1)]
    assert not share[0] & share[1]
    assert share[0] | share[1] == set(ranks[0].tiles)
    assert len(list(ranks[0].epoch(0))) == len(list(ranks[1].epoch(0))) == 6


def test_a_resumed_sampler_draws_the_batches_of_an_uninterrupted_one(stores):
    running = sampler_for(stores[200], pool_tiles=4, refresh=2)
    list(running.epoch(0))
    resumed = sampler_for(stores[200], pool_tiles=4, refresh=2)
    for a, b in zip(running.epoch(1), resumed.epoch(1), strict=True):
        assert torch.equal(a["x_dynamic"], b["x_dynamic"])
        assert torch.allclose(a["y"], b["y"], equal_nan=True)
    epoch0, epoch1 = (next(sampler_for(stores[200]).epoch(e))["x_dynamic"] for e in (0, 1))
    assert not torch.equal(epoch0, epoch1)


def test_batches_mix_basins_and_carry_each_basins_target_spread(stores):
    sampler = sampler_for(stores[200], pool_tiles=8)
    batch = next(sampler.epoch(0))
    assert batch["x_dynamic"].shape == (32, SPEC.lookback, 3)
    assert not torch.isnan(batch["x_dynamic"]).any()
    spreads = batch["target_std"][:, 0]
    assert len(torch.unique(spreads)) > 8  # windows of many basins in one batch
    assert (spreads > 0.1).all() and (spreads < 10).all()


def test_predict_last_n_targets_never_reach_outside_the_period(stores, tmp_path):
    store = tmp_path / "marked.zarr"
    synthesize(store, basins=16, years=6, seed=2)
    reader = StoreReader(store)
    flow = zarr.open_group(store, mode="r+")["streamflow"]
    inside = reader.time_slice(PERIOD.start, PERIOD.end)
    marked = np.full(flow.shape, 1e5, np.float32)
    marked[:, inside] = flow[:, inside]
    flow[:] = marked  # targets outside the period are absurd: any that leak in are seen
    for last_n in (1, 7, 30):
        sampler = sampler_for(store, last_n=last_n, pool_tiles=2, refresh=1)
        for batch in sampler.epoch(0):
            days = batch["y"].shape[1] if last_n > 1 else 1
            assert days == last_n
            assert np.nanmax(batch["y"].numpy()) < 100  # standardised: inside values are small


def test_planning_reads_once_what_the_separate_passes_compute(stores):
    from regional_lstm.data.normalize import normalization_from_moments
    from regional_lstm.data.sampling import load_block
    from regional_lstm.data.scan import scan_store

    reader = StoreReader(stores[200])
    calibration = Period.parse(["1990-06-01", "1995-12-31"])
    norm = fit_normalization(
        reader, reader.basins, calibration.start, calibration.end, *NAMES, workers=1
    )
    separate = window_statistics(reader, reader.basins, PERIOD, SPEC, norm, last_n=7, workers=1)
    scan = scan_store(
        reader, reader.basins, PERIOD, SPEC, calibration=calibration, last_n=7, workers=3
    )
    fused = normalization_from_moments(
        reader, reader.basins, calibration.start, calibration.end, *NAMES, scan.moments
    )
    for part, values in norm.to_dict().items():
        assert fused.to_dict()[part] == pytest.approx(values)
    assert scan.windows(norm, SPEC.targets).counts == separate.counts
    block = load_block(reader, reader.basins[:5], PERIOD, SPEC, norm)
    for basin, expected in zip(block.basins, block.target_std(), strict=True):
        assert scan.windows(norm, SPEC.targets).target_std[basin] == pytest.approx(expected)
