"""The training path without Ray: windows, normalisation, sampling, loss, fit, resume."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from regional_lstm.config_periods import Period
from regional_lstm.data.normalize import fit_normalization
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import BasinBlock, gather_windows
from regional_lstm.models import ModelSpec, build_model
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.training.checkpoint import read_checkpoint
from regional_lstm.training.fit import WorkerContext, fit
from regional_lstm.training.loop import EarlyStopping, train_epoch
from regional_lstm.training.loss import mse, nse_star
from regional_lstm.training.schedule import cosine, epoch_rates
from tests.conftest import log_lines, tiny_config


def block_of(x: np.ndarray, y: np.ndarray, period_start: int = 0) -> BasinBlock:
    """A one-basin block from (time,) input and target series."""
    time = pd.date_range("2000-01-01", periods=len(x))
    return BasinBlock(
        ["b1"],
        time,
        x[None, :, None].astype(np.float32),
        np.zeros((1, 0), np.float32),
        y[None, :, None].astype(np.float32),
        period_start,
    )


@pytest.fixture(scope="module")
def plan(tiny_store, tmp_path_factory):
    return make_plan(tiny_config(tiny_store, tmp_path_factory.mktemp("p")))


def run_fit(plan, epochs: int, resume_from: Path | None = None, keep: Path | None = None):
    """Train ``epochs``; return the final state and the checkpoint folder kept at ``keep``."""

    def report(metrics, folder):
        if keep is not None and folder is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(folder, keep)

    ctx = WorkerContext(report=report, resume_from=resume_from)
    with log_lines() as lines:
        state = fit(_with(plan, epochs=epochs), ctx)
    return state, lines


def _with(plan, **changes):
    from dataclasses import replace

    return replace(plan, **changes)


def test_windows_with_an_input_gap_are_skipped():
    x = np.arange(20, dtype=float)
    x[10] = np.nan
    ends = block_of(x, np.ones(20)).window_ends(lookback=5, need_target=True)[0]
    assert list(ends) == [4, 5, 6, 7, 8, 9, 15, 16, 17, 18, 19]


def test_windows_end_in_the_period_and_reach_back_only():
    x = np.arange(20, dtype=float)
    block = block_of(x, np.ones(20), period_start=8)
    ends = block.window_ends(lookback=5, need_target=True)[0]
    assert ends.min() == 8
    batch = gather_windows(block, np.array([0, 0]), np.array([8, 19]), lookback=5)
    assert batch["x_dynamic"][:, :, 0].tolist() == [[4, 5, 6, 7, 8], [15, 16, 17, 18, 19]]


def test_missing_targets_skip_training_windows_but_not_predictions():
    y = np.ones(20)
    y[12] = np.nan
    block = block_of(np.arange(20, dtype=float), y)
    assert 12 not in block.window_ends(lookback=5, need_target=True)[0]
    assert 12 in block.window_ends(lookback=5, need_target=False)[0]


def test_normalization_uses_the_calibration_period_of_training_basins_only(tiny_store):
    reader = StoreReader(tiny_store)
    basins = reader.basins[:3]
    start, end = pd.Timestamp("1990-01-01"), pd.Timestamp("1991-12-31")
    norm = fit_normalization(reader, basins, start, end, ["prcp"], ["area"], ["streamflow"])
    times = reader.time_slice(start, end)
    prcp = reader.read_dynamic(basins, ["prcp"], times).astype(np.float64)
    q = reader.read_dynamic(basins, ["streamflow"], times).astype(np.float64)
    assert norm.dynamic_mean["prcp"] == pytest.approx(np.nanmean(prcp), rel=1e-9)
    assert norm.dynamic_std["prcp"] == pytest.approx(np.nanstd(prcp), rel=1e-6)
    assert norm.target_mean["streamflow"] == pytest.approx(np.nanmean(q), rel=1e-9)
    area = reader.read_static(basins, ["area"])
    assert norm.static_mean["area"] == pytest.approx(area.mean())


def test_nse_star_loss_weighs_errors_by_basin_spread_and_masks_missing_targets():
    y_hat = torch.tensor([[1.0], [2.0], [5.0]])
    y = torch.tensor([[0.0], [2.0], [float("nan")]])
    std = torch.tensor([[0.9], [1.9], [0.1]])
    # valid samples: (1-0)^2/(0.9+0.1)^2 = 1 and (2-2)^2/(2.0)^2 = 0 -> mean 0.5
    assert float(nse_star([1.0])(y_hat, y, std)) == pytest.approx(0.5)
    assert float(mse([1.0])(y_hat, y, std)) == pytest.approx(0.5)


def test_multi_target_loss_masks_each_target_and_applies_its_weight():
    y_hat = torch.tensor([[1.0, 1.0], [1.0, 3.0]])
    y = torch.tensor([[0.0, float("nan")], [1.0, 1.0]])
    # flow: errors 1, 0 -> 0.5; swe: only sample 2, error 4 -> 4 * weight 0.25 = 1
    assert float(mse([1.0, 0.25])(y_hat, y, torch.ones(2, 2))) == pytest.approx(1.5)


@pytest.mark.parametrize("last_n", [1, 5])
def test_a_batch_run_in_parts_takes_the_step_of_the_whole_batch(last_n):
    """Micro-batches (a CPU worker's memory bound) divide by the whole batch's observed
    counts, so the summed gradients, the clipping and the step equal the whole batch's."""
    spec = ModelSpec(
        n_dynamic=3, n_static=2, hidden_size=8, num_layers=1, dropout=0.0, use_attention=False
    )
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(10, last_n, 1, generator=generator) if last_n > 1 else torch.randn(10, 1)
    y[y > 1.0] = float("nan")  # parts with different numbers of observed targets
    batch = {
        "x_dynamic": torch.randn(10, 20, 3, generator=generator),
        "x_static": torch.randn(10, 2, generator=generator),
        "y": y,
        "target_std": torch.rand(10, 1, generator=generator) + 0.5,
    }
    results = []
    for micro_batch in (None, 4):
        torch.manual_seed(1)
        model = build_model(spec)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        total, steps = train_epoch(
            model,
            [batch],
            optimizer,
            nse_star([1.0]),
            0.5,
            torch.device("cpu"),
            last_n=last_n,
            micro_batch=micro_batch,
        )
        results.append((total, steps, [p.detach().clone() for p in model.parameters()]))
    (whole, one, params), (parts, also_one, part_params) = results
    assert one == also_one == 1
    assert parts == pytest.approx(whole, rel=1e-5)
    for a, b in zip(params, part_params, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_early_stopping_counts_epochs_without_improvement():
    early = EarlyStopping(patience=2)
    assert early.update(0.5, 0)
    assert not early.update(0.4, 1)
    assert not early.should_stop
    assert not early.update(float("nan"), 2)
    assert early.should_stop
    assert early.best_epoch == 0


def test_loss_falls_and_each_epoch_logs_the_documented_line(plan):
    state, lines = run_fit(plan, epochs=4)
    losses = [h["train_loss"] for h in state["history"]]
    assert losses[-1] < 0.7 * losses[0]
    assert lines[0].startswith("Epoch 1/4: Train Loss: ")
    assert " Val Loss: " in lines[0] and " NSE: " in lines[0]
    assert state["history"][-1]["val_nse"] > state["history"][0]["val_nse"]


def test_same_seed_gives_identical_weights(plan, tmp_path):
    run_fit(plan, epochs=2, keep=tmp_path / "a")
    run_fit(plan, epochs=2, keep=tmp_path / "b")
    weights_a, weights_b = read_checkpoint(tmp_path / "a")[0], read_checkpoint(tmp_path / "b")[0]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def test_resumed_run_continues_where_it_stopped_and_matches_an_uninterrupted_one(plan, tmp_path):
    run_fit(plan, epochs=2, keep=tmp_path / "killed")
    resumed, lines = run_fit(
        _with(plan, epochs=3), epochs=3, resume_from=tmp_path / "killed", keep=tmp_path / "resumed"
    )
    assert lines[0] == f"Resuming from epoch 2 ({tmp_path / 'killed'})"
    assert len(resumed["history"]) == 3
    run_fit(plan, epochs=3, keep=tmp_path / "straight")
    a, b = read_checkpoint(tmp_path / "resumed")[0], read_checkpoint(tmp_path / "straight")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_period_outside_the_store_is_a_config_error(tiny_store, tmp_path):
    from regional_lstm.errors import ConfigError

    config = tiny_config(tiny_store, tmp_path, VALIDATION_PERIOD=[1993, 1995])
    with pytest.raises(ConfigError, match=r"VALIDATION_PERIOD 1993-01-01\.\.1995-12-31 is outside"):
        make_plan(config)


def test_unknown_input_variable_names_the_store(tiny_store, tmp_path):
    from regional_lstm.errors import StoreError

    config = tiny_config(tiny_store, tmp_path, DYNAMIC_INPUTS=["prcp", "rain"])
    with pytest.raises(StoreError, match="no dynamic input 'rain'"):
        make_plan(config)


def test_period_parse_of_years_is_whole_years():
    assert str(Period.parse([1990, 1991])) == "1990-01-01..1991-12-31"


def test_snow_head_writes_flow_and_swe_columns(tiny_store, tmp_path):
    from dataclasses import asdict

    from regional_lstm.artifacts import ModelCard, save_model
    from regional_lstm.pipeline.layout import BEST_MODEL
    from regional_lstm.pipeline.results import evaluate_project

    config = tiny_config(tiny_store, tmp_path, LSTM_USE_SNOW=True, SWE_LOSS_WEIGHT=0.5)
    snow_plan = _with(make_plan(config), epochs=1)
    assert snow_plan.data.targets == ("streamflow", "swe")
    assert snow_plan.loss_weights == (1.0, 0.5)
    folder = tmp_path / "ckpt"
    run_fit(snow_plan, epochs=1, keep=folder)
    best = read_checkpoint(folder)[1]
    card = ModelCard(
        snow_plan.model,
        snow_plan.data,
        snow_plan.norm,
        snow_plan.basins,
        config.to_yaml_dict(),
        {"epochs": 1},
    )
    save_model(tmp_path / BEST_MODEL, best, card)
    evaluation = evaluate_project(tmp_path, plots=False)
    csv = pd.read_csv(evaluation.results_dir / "syn0001_LSTM_predictions.csv")
    assert list(csv.columns) == ["Date", "Q_obs", "Q_pred", "SWE_obs", "SWE_pred"]
    assert csv["SWE_pred"].notna().all()
    assert asdict(card.data)["targets"] == ("streamflow", "swe")


def test_sequence_to_sequence_training_supervises_the_last_n_days_and_learns(tiny_store, tmp_path):
    plan = make_plan(tiny_config(tiny_store, tmp_path, LSTM_PREDICT_LAST_N=7))
    assert plan.predict_last_n == 7
    state, _ = run_fit(plan, epochs=3)
    losses = [h["train_loss"] for h in state["history"]]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]
    assert all(h["train_seconds"] <= h["epoch_seconds"] for h in state["history"])


def test_early_stopping_can_score_a_seeded_sample_of_the_basins(tiny_store, tmp_path):
    config = tiny_config(tiny_store, tmp_path, LSTM_VALIDATION_BASINS=2)
    sample = make_plan(config).validation_basins
    assert len(sample) == 2 and set(sample) <= set(StoreReader(tiny_store).basins)
    assert make_plan(config).validation_basins == sample
    assert make_plan(tiny_config(tiny_store, tmp_path)).validation_basins is None


def test_cosine_schedule_falls_from_the_initial_rate_to_one_percent_of_it():
    rates = [cosine(0.01, step / 100) for step in range(101)]
    assert rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(0.0001)
    assert all(later < earlier for earlier, later in itertools.pairwise(rates))
    assert cosine(0.01, 0.5) == pytest.approx((0.01 + 0.0001) / 2)


def test_epoch_rates_run_on_across_epochs_and_stay_constant_without_a_schedule():
    first = epoch_rates("cosine", 0.01, epoch=0, epochs=2, steps=4)
    second = epoch_rates("cosine", 0.01, epoch=1, epochs=2, steps=4)
    assert first + second == [cosine(0.01, step / 8) for step in range(8)]
    assert epoch_rates("constant", 0.01, epoch=1, epochs=2, steps=3) == [0.01] * 3


def test_training_steps_at_the_scheduled_rates_and_resumes_on_them(plan, tmp_path):
    """Killed after epoch 2 of 3 and resumed: the same rates, so the same weights."""
    cosine_plan = _with(plan, lr_schedule="cosine", epochs=3)

    class Killed(Exception):
        pass

    def report(metrics, folder):
        if metrics["epoch"] == 2:
            shutil.copytree(folder, tmp_path / "killed")
            raise Killed

    with pytest.raises(Killed):
        fit(cosine_plan, WorkerContext(report=report))
    (group,) = read_checkpoint(tmp_path / "killed")[2]["param_groups"]
    steps = 1024 // 64  # the tiny config's windows per epoch over its batch size
    assert group["lr"] == pytest.approx(cosine(0.01, (2 * steps - 1) / (3 * steps)))
    run_fit(cosine_plan, epochs=3, resume_from=tmp_path / "killed", keep=tmp_path / "resumed")
    run_fit(cosine_plan, epochs=3, keep=tmp_path / "straight")
    a, b = read_checkpoint(tmp_path / "resumed")[0], read_checkpoint(tmp_path / "straight")[0]
    assert all(torch.equal(a[k], b[k]) for k in a)
