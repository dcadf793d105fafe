"""``regional-lstm tune``: hyperparameter search over the config's list-valued keys.

One MLflow parent run per sweep, one child run per trial; each trial trains (in its own process
on one worker, on a TorchTrainer of its own on several) and reports the median validation KGE
or NSE (early-stopping period) every epoch.
The best trial is evaluated on the evaluation period, registered when LSTM_SAVE_MODEL is on, and
its config written as a ready-to-run YAML.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from regional_lstm.atomic import write_text
from regional_lstm.config import Config
from regional_lstm.distributed.cluster import ray_session, with_restarts
from regional_lstm.distributed.tune import (
    distinct_points,
    grid_size,
    param_space,
    plan_resources,
    run_sweep,
    trial_id,
    trial_resources,
)
from regional_lstm.distributed.worker_errors import user_error
from regional_lstm.errors import ConfigError, RegionalLSTMError
from regional_lstm.evaluation.plots import plot_metric_vs_params
from regional_lstm.pipeline.fitting import register_if_asked, tracked_run, use_gpu
from regional_lstm.pipeline.layout import RAY_DIR
from regional_lstm.pipeline.members import fit_in_trial
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.results import evaluate_project
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.tracking.runs import (
    TrackedRun,
    closing,
    log_results,
    reopen,
    start_run,
)
from regional_lstm.tracking.store import tracking_uri

logger = logging.getLogger(__name__)

SWEEP = "sweep"


@dataclass(frozen=True)
class TuneOutcome:
    """The sweep's trials, the winner and where everything was written."""

    trials: pd.DataFrame
    best_params: dict[str, Any]
    best_score: float
    best_config_path: Path
    parent: TrackedRun
    registered_version: str | None


def check_sweep(config: Config) -> dict[str, list[Any]]:
    """The search space, refusing configs that describe no search or too large a grid."""
    space = config.search_space()
    if not space:
        raise ConfigError(
            "nothing to tune: give at least one tunable key as a list, e.g. "
            "LSTM_HIDDEN_SIZE: [64, 128, 256]"
        )
    if config.OPTIMIZATION_ALGORITHM == "GridSearch":
        size = grid_size(space)
        if size > config.OPTIMIZATION_MAX_ITERATIONS:
            raise ConfigError(
                f"GridSearch over {', '.join(space)} has {size} points, more than "
                f"OPTIMIZATION_MAX_ITERATIONS {config.OPTIMIZATION_MAX_ITERATIONS}"
            )
    return space


def tune(config: Config, *, resume: bool = False) -> TuneOutcome:
    """Run (or resume) the sweep the config describes and finish with the best trial."""
    space = check_sweep(config)
    ensure_store(config)
    grid = config.OPTIMIZATION_ALGORITHM == "GridSearch"
    metric = config.OPTIMIZATION_METRIC
    sweep_dir = config.PROJECT_DIR / "tune"
    parent = _parent_run(config, sweep_dir, resume)
    early_stop = config.OPTIMIZATION_EARLY_STOPPING
    if early_stop is None:
        early_stop = not grid
    points = None if grid else _random_points(config, space)
    with closing(parent):
        with ray_session(config.RAY_ADDRESS, dashboard=True):
            cpus_per_worker, concurrent = plan_resources(config.RAY_NUM_WORKERS)
            logger.info(
                f"{config.OPTIMIZATION_ALGORITHM} over {', '.join(space)}: "
                f"{grid_size(space) if grid else len(points)} trials, "
                f"{concurrent} at a time, metric median validation {metric}"
            )
            # Decided here, on the driver: a trial's process cannot tell a joined cluster
            # from the embedded Ray (see `with_restarts`).
            config = with_restarts(config)
            trial_fn = _make_trial(config, parent, cpus_per_worker, metric.lower())
            results = run_sweep(
                trial_fn,
                param_space(space, grid),
                resources=trial_resources(config.RAY_NUM_WORKERS, cpus_per_worker, use_gpu(config)),
                metric="best_score",
                num_samples=1 if grid else len(points),
                max_epochs=_max_epochs(config),
                early_stop=early_stop,
                max_concurrent=concurrent,
                seed=config.SEED,
                storage_path=sweep_dir / "ray",
                name=SWEEP,
                resume=resume,
                retries=int(config.RAY_MAX_FAILURES or 0),
                points=points,
            )
        outcome = _finish(config, space, results, parent, sweep_dir)
    return outcome


def _random_points(config: Config, space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """OPTIMIZATION_MAX_ITERATIONS different points, or every point of a smaller space (said)."""
    points = distinct_points(space, config.OPTIMIZATION_MAX_ITERATIONS, config.SEED)
    if len(points) < config.OPTIMIZATION_MAX_ITERATIONS:
        logger.warning(
            f"RandomSearch: the space of {', '.join(space)} has {len(points)} different "
            f"points, fewer than OPTIMIZATION_MAX_ITERATIONS {config.OPTIMIZATION_MAX_ITERATIONS}"
            f": each is tried once ({len(points)} trials)"
        )
    return points


def _max_epochs(config: Config) -> int:
    epochs = config.LSTM_EPOCHS
    return max(epochs) if isinstance(epochs, list) else int(epochs)


def _parent_run(config: Config, sweep_dir: Path, resume: bool) -> TrackedRun:
    """The sweep's MLflow parent run (the interrupted one's when resuming)."""
    record = sweep_dir / "mlflow_parent.json"
    uri = tracking_uri(config)
    if resume and record.is_file():
        previous = json.loads(record.read_text())
        if previous["uri"] == uri and (run := reopen(uri, previous["run_id"])) is not None:
            return run
    if not resume and (sweep_dir / "ray" / SWEEP).exists():
        raise ConfigError(
            f"{sweep_dir} holds a sweep already: pass --resume to continue it, or use a new "
            "PROJECT_DIR"
        )
    parent = start_run(config, "tune", run_name=f"{config.DOMAIN_NAME}-tune")
    write_text(record, json.dumps({"uri": uri, "run_id": parent.run_id}))
    return parent


def _make_trial(base: Config, parent: TrackedRun, cpus_per_worker: float, metric: str):
    """The function trainable: one trial = one config point trained (`fit_in_trial`)."""
    base_values = base.to_yaml_dict(redacted=False)  # trials need the storage secrets
    trials_dir = base.PROJECT_DIR / "tune" / "trials"

    def trial(params: dict[str, Any]) -> None:
        this_trial = trial_id()
        # Trials keep their files apart but log to the sweep's store, under its parent run.
        values = (
            base_values
            | params
            | {
                "PROJECT_DIR": str(trials_dir / this_trial),
                "MLFLOW_TRACKING_URI": parent.uri,
            }
        )
        config = Config.from_mapping(values, source=f"trial {this_trial}")
        plan = replace(make_plan(config), selection_metric=metric)
        # A trial started again (its node lost) reopens its run and resumes its checkpoint.
        ray_dir = config.PROJECT_DIR / RAY_DIR
        tracked = tracked_run(config, plan, ray_dir, parent, run_name=f"trial-{this_trial}")
        tracked.set_tags({"regional_lstm.trial_id": this_trial})
        fit_in_trial(config, plan, tracked, cpus_per_worker, run_name=this_trial)

    return trial


def _finish(config, space, results, parent: TrackedRun, sweep_dir: Path) -> TuneOutcome:
    """Summarise trials, close child runs stopped early, evaluate and record the best trial."""
    trials = _trials_table(results, list(space))
    # Trials stopped by the scheduler never closed their run.
    for stopped in parent.children(status="RUNNING"):
        stopped.finish("KILLED")
    if trials["best_score"].isna().all():
        first = next((r.error for r in results if r.error), None)
        first = user_error(first) or first  # a worker's one line, not its traceback
        raise RegionalLSTMError(f"all {len(trials)} trials failed; the first: {first}")
    write_text(sweep_dir / "trials.csv", trials.to_csv(index=False))
    best = results.get_best_result(metric="best_score", mode="max", scope="all")
    best_params = {key: best.config[key] for key in space}
    best_score = float(best.metrics_dataframe["best_score"].max())
    best_dir = config.PROJECT_DIR / "tune" / "trials" / best.metrics["trial_id"]
    best_config = config.to_yaml_dict() | best_params | {"PROJECT_DIR": str(best_dir)}
    best_config_path = write_text(
        sweep_dir / "best_config.yaml", yaml.safe_dump(best_config, sort_keys=False)
    )
    evaluation = evaluate_project(best_dir)
    found = parent.children(tags={"regional_lstm.trial_id": best.metrics["trial_id"]})
    best_run = found[0] if found else None
    log_results(best_run, evaluation.summary, evaluation.results_dir)
    version = None
    if best_run is not None:
        version = register_if_asked(config, best_run, best_run.tag("regional_lstm.model_uri"))
    plot = plot_metric_vs_params(
        sweep_dir / "metric_vs_params.png",
        trials,
        list(space),
        f"best {config.OPTIMIZATION_METRIC}",
    )
    parent.log_metrics(
        {f"best_{config.OPTIMIZATION_METRIC.lower()}": best_score, "n_trials": float(len(trials))}
    )
    parent.set_tags(
        {
            "regional_lstm.best_trial": best.metrics["trial_id"],
            **{f"best.{k}": str(v) for k, v in best_params.items()},
        }
    )
    for path in (best_config_path, sweep_dir / "trials.csv", plot):
        parent.log_artifact(path, "sweep")
    _log_summary(trials, config.OPTIMIZATION_METRIC, best_params, best_score, best_config_path)
    return TuneOutcome(trials, best_params, best_score, best_config_path, parent, version)


def _trials_table(results, keys: list[str]) -> pd.DataFrame:
    """One row per trial: its parameters, best score, epochs run and status."""
    rows = []
    for result in results:
        frame = result.metrics_dataframe
        rows.append(
            {
                "trial_id": result.metrics.get("trial_id"),
                **{key: result.config.get(key) for key in keys},
                "best_score": float(frame["best_score"].max())
                if frame is not None
                else float("nan"),
                "epochs": int(frame["epoch"].max()) if frame is not None else 0,
                "status": "error" if result.error else "done",
            }
        )
    return pd.DataFrame(rows).sort_values("best_score", ascending=False, na_position="last")


def _log_summary(trials, metric, best_params, best_score, best_config_path) -> None:
    logger.info(
        f"{len(trials)} trials; best median validation {metric} {best_score:.3f} with "
        + ", ".join(f"{k}={v}" for k, v in best_params.items())
    )
    logger.info(trials.head(10).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    logger.info(f"Best config: {best_config_path}")
