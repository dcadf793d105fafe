"""Ray Tune: a function trainable per trial that trains in its own process (one worker) or runs
its own TorchTrainer (Tune over Train, several workers).

Resources follow what runs without deadlock on small machines: a trial over Train reserves
almost no CPU, its training workers share what is left, and as many trials run at once as the
cluster has room for; a one-worker trial reserves what its worker would.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from regional_lstm.distributed.cluster import cluster_cpus
from regional_lstm.progress import progress

TRIAL_CPU = 0.01
RESERVED_SHARE = 0.45


def param_space(space: dict[str, list[Any]], grid: bool) -> dict[str, Any]:
    """Tune's space: every list value tried (grid) or drawn uniformly per trial (random)."""
    make = tune.grid_search if grid else tune.choice
    return {key: make(list(values)) for key, values in space.items()}


def distinct_points(space: dict[str, list[Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` different points of ``space`` drawn at random (all of them, in a random order,
    when it has fewer), the same for the same ``seed``.

    Tune's `choice` draws every key afresh per trial, so a small space gives the same point
    twice: a trial spent on nothing new.
    """
    values = {key: list(dict.fromkeys(options)) for key, options in space.items()}
    shape = [len(options) for options in values.values()]
    size = math.prod(shape)
    drawn = np.random.default_rng(seed).choice(size, size=min(count, size), replace=False)
    indices = np.unravel_index(drawn, shape)  # one array per key
    return [
        {key: values[key][int(i[n])] for key, i in zip(values, indices, strict=True)}
        for n in range(len(drawn))
    ]


def grid_over(labels: list[str]) -> dict[str, Any]:
    """A one-key grid: every label in its own trial (how several models train at once)."""
    return tune.grid_search(list(labels))


def report_to_tune() -> Any:
    """The Ray Train callback that passes a trial's per-epoch reports on to Tune."""
    from ray.tune.integration.ray_train import TuneReportCallback

    return TuneReportCallback()


def report_epoch(metrics: dict[str, Any]) -> None:
    """Report an epoch to Tune from a trial that trains in its own process."""
    tune.report(metrics)


def report_final(metrics: dict[str, Any]) -> None:
    """Report a trial's last epoch to Tune itself: for a trial restarted after its training had
    finished, whose Train run then runs, and so reports, no epoch."""
    tune.report(metrics)


def trial_id() -> str:
    """The running Tune trial's id (inside a trial function)."""
    return tune.get_context().get_trial_id()


def grid_size(space: dict[str, list[Any]]) -> int:
    return math.prod(len(values) for values in space.values())


def plan_resources(num_workers: int) -> tuple[float, int]:
    """CPUs reserved per training worker, and concurrent trials, for the running cluster.

    Concurrency follows the real cores (each worker runs one torch thread). The reservation is
    under half of a trial's share: on Ray 2.60 a finished trial's worker placement group is
    sometimes released only after the next trial asks for its own, and a full reservation then
    waits forever (seen on 2 CPUs). Reservations are bookkeeping; they do not limit compute.
    """
    total = cluster_cpus()
    concurrent = max(1, int(total // num_workers))
    per_worker = min(1.0, RESERVED_SHARE * (total / concurrent - TRIAL_CPU) / num_workers)
    return round(per_worker, 3), concurrent


def trial_resources(num_workers: int, cpus_per_worker: float, use_gpu: bool) -> dict[str, float]:
    """What each trial reserves: almost nothing when it runs a Train run whose workers reserve
    their own; a one-worker trial trains in its own process and reserves that worker's CPUs
    (`plan_resources`) and, on GPUs, one GPU."""
    if num_workers > 1:
        return {"cpu": TRIAL_CPU}
    return {"cpu": TRIAL_CPU + cpus_per_worker, "gpu": 1.0 if use_gpu else 0.0}


class _TrialProgress(tune.Callback):
    """Advances a progress bar as trials end (finished, stopped early or failed)."""

    def __init__(self, advance) -> None:
        self.advance = advance

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.advance(item=trial.trial_id)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.advance(item=f"{trial.trial_id} failed")


def run_sweep(
    trainable: Callable[[dict[str, Any]], None],
    space: dict[str, Any],
    *,
    resources: dict[str, float],
    metric: str,
    num_samples: int,
    max_epochs: int,
    early_stop: bool,
    max_concurrent: int,
    seed: int,
    storage_path: Path,
    name: str,
    resume: bool,
    retries: int = 0,
    points: list[dict[str, Any]] | None = None,
) -> tune.ResultGrid:
    """Run (or resume) the sweep; each trial reports ``metric`` every epoch (maximised).

    ``points`` are tried first, one trial each (`distinct_points` for a random search). Each
    trial reserves ``resources`` (`trial_resources`).

    A trial whose process died (its node lost) is started again up to ``retries`` times; it
    finds its own MLflow run and checkpoint in its folder and goes on from its last epoch.
    """
    trainable = tune.with_resources(trainable, resources)
    folder = storage_path / name
    if resume and tune.Tuner.can_restore(str(folder)):
        tuner = tune.Tuner.restore(str(folder), trainable=trainable, resume_errored=True)
        with progress(None, name):
            return tuner.fit()
    scheduler = None
    if early_stop and max_epochs > 1:
        # A stopped trial is killed before it saves its model, so no decision may fall on the
        # last epoch: max_t beyond it (ASHA stops a trial reaching max_t at once) and the first
        # rung before it.
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=max_epochs + 1,
            grace_period=min(max_epochs - 1, 3),
            reduction_factor=3,
        )
    with progress(num_samples * _grid_points(space), name) as advance:
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric=metric,
                mode="max",
                num_samples=num_samples,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(
                    points_to_evaluate=points, max_concurrent=max_concurrent, random_state=seed
                ),
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(storage_path.absolute()),
                verbose=0,
                callbacks=[_TrialProgress(advance)],
                failure_config=tune.FailureConfig(max_failures=retries),
            ),
        )
        return tuner.fit()


def _grid_points(space: dict[str, Any]) -> int:
    """Trials per sample: the product of the grid axes (1 without a grid)."""
    sizes = [
        len(v["grid_search"]) for v in space.values() if isinstance(v, dict) and "grid_search" in v
    ]
    return math.prod(sizes)
