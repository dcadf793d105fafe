"""Every shipped experiment gets past its first steps on the data it names.

Each ``experiments/*.yaml`` says in its header how to run it (``regional-lstm VERB
experiments/NAME.yaml`` lines). Its store is built as ``run`` builds it, from its DATA_SOURCE in
../shared/data (every basin, the real files), and each command is planned as that verb plans it:
the normalisation, window counts and model of every model the command would train. Nothing
trains; a `simulate` command runs its conceptual model over the first year with the parameter
file its header makes. Real CAMELS-CH tables broke four experiments at ingest once ('Inf'
attribute cells) while the suite, which ingested other basins, stayed green.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from pathlib import Path

import pandas as pd
import pytest

from datasets.exphydro_parameters import exphydro_parameters
from regional_lstm.artifacts import ModelCard
from regional_lstm.config import Config, load_config
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.models import build_model
from regional_lstm.pipeline.conceptual import simulate_with_parameters
from regional_lstm.pipeline.donors import Donor
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.pipeline.stores import ensure_store
from regional_lstm.registry import CONCEPTUAL_MODELS
from regional_lstm.training.plan import TrainingPlan
from regional_lstm.workflows.ensemble import member_configs
from regional_lstm.workflows.pub import pub_configs
from regional_lstm.workflows.transfer import check_target, finetune_plan
from regional_lstm.workflows.tune import check_sweep
from tests.conftest import ROOT, SHARED_DATA, log_lines

pytestmark = pytest.mark.shared_data

EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
COMMAND = re.compile(r"^#.*\bregional-lstm (\w+) (experiments/[\w.-]+\.yaml)")
PARAMETERS = re.compile(r"^#.*\bpython datasets/exphydro_parameters\.py (\S+) (runs/\S+\.csv)")


def commands(experiment: Path) -> list[tuple[str, Path]]:
    """The (verb, config) commands its header comment gives, in order."""
    found = []
    for line in experiment.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        match = COMMAND.match(line)
        if match:
            found.append((match[1], ROOT / match[2]))
    return found


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """Where the experiments' stores and projects go, in place of ``runs/``."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not found (real-data tests need ../shared/data)")
    return tmp_path_factory.mktemp("experiments")


def relocated(config_file: Path, workspace: Path) -> Config:
    """The experiment's config with its stores, projects and tracking under ``workspace``.

    Paths under ``runs/`` keep their place below it, so experiments that share a store (or a
    donor's tracking store) share it here too.
    """
    runs = ROOT / "runs"
    with contextlib.chdir(ROOT):  # as the README runs them
        config = load_config(config_file)
    moved = {}
    for key in ("DATA_STORE", "PROJECT_DIR"):
        path = Path(getattr(config, key))
        if path.is_relative_to(runs):
            moved[key] = str(workspace / path.relative_to(runs))
    return config.with_overrides(**moved, MLFLOW_TRACKING_URI=None)


@pytest.fixture(scope="module")
def built_stores(workspace) -> dict[str, list[str]]:
    """Each store the experiments name, built once from the first DATA_SOURCE that names it
    (with its warnings); every experiment that names it must give the same source."""
    sources: dict[str, object] = {}
    warnings: dict[str, list[str]] = {}
    for experiment in EXPERIMENTS:
        config = relocated(experiment, workspace)
        if config.DATA_SOURCE is None:
            continue
        first = sources.setdefault(config.DATA_STORE, config.DATA_SOURCE)
        assert first == config.DATA_SOURCE, f"{experiment.name}: another source for its store"
        if config.DATA_STORE not in warnings:
            with log_lines() as lines:
                assert ensure_store(config)
            warnings[config.DATA_STORE] = [line for line in lines if line.startswith("warning:")]
    return warnings


def test_every_experiment_says_how_to_run_it():
    for experiment in EXPERIMENTS:
        found = commands(experiment)
        assert found, f"{experiment.name}: no 'regional-lstm VERB experiments/...' line"
        assert found[-1][1] == experiment, f"{experiment.name}: its last command runs another"


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=[e.stem for e in EXPERIMENTS])
def test_experiment_ingests_and_plans(experiment, workspace, built_stores):
    donor: Donor | None = None
    for verb, config_file in commands(experiment):
        config = relocated(config_file, workspace)
        if verb == "simulate":
            simulate_first_year(experiment, config, workspace)
            continue
        plans = PLANNERS[verb](config, donor)
        assert plans, f"{config_file.name}: {verb} plans no model"
        for label, plan in plans.items():
            assert sum(plan.counts.values()) > 0, f"{config_file.name} {label}: no windows"
            # The training settings reach every model the command trains (fine-tuning too).
            assert plan.predict_last_n == config.LSTM_PREDICT_LAST_N, label
            assert plan.lr_schedule == config.LSTM_LEARNING_RATE_SCHEDULE, label
        donor = untrained_donor(next(iter(plans.values())), workspace)


def test_camels_ch_ingest_names_its_unusable_attribute_values_once(workspace, built_stores):
    """The 50 sample basins: 2308, 2369 and 2374 have 'Inf'/'-Inf' root_depth_skewness."""
    store = str(workspace / "camels_ch" / "store.zarr")
    (warning,) = [w for w in built_stores[store] if "not finite numbers" in w]
    assert "root_depth_skewness (-Inf, Inf) for 2308, 2369, 2374" in warning


def plan_training(config: Config, donor: Donor | None) -> dict[str, TrainingPlan]:
    return {"model": make_plan(config)}


def plan_sweep(config: Config, donor: Donor | None) -> dict[str, TrainingPlan]:
    """Every point of the search space (a random search draws among them)."""
    space = check_sweep(config)
    points = [
        dict(zip(space, values, strict=True)) for values in itertools.product(*space.values())
    ]
    return {str(point): make_plan(config.with_overrides(**point)) for point in points}


def plan_members(config: Config, donor: Donor | None) -> dict[str, TrainingPlan]:
    return {label: make_plan(member) for label, member in member_configs(config).items()}


def plan_folds(config: Config, donor: Donor | None) -> dict[str, TrainingPlan]:
    _, configs = pub_configs(config, StoreReader(config.store), config.PUB_FOLDS)
    return {label: make_plan(fold) for label, fold in configs.items()}


def plan_transfer(config: Config, donor: Donor | None) -> dict[str, TrainingPlan]:
    """Against the donor its header trains first (an untrained model of that plan)."""
    assert donor is not None, "a transfer needs its donor's command before it"
    reader = StoreReader(config.store)
    basins = config.basin_ids() or list(reader.basins)
    check_target(config, donor, reader, basins)
    return {"fine_tuned": finetune_plan(config, donor, reader, basins)}


def simulate_first_year(experiment: Path, config: Config, workspace: Path) -> None:
    """The parameter file the header's script writes, and a year of the conceptual model
    with it on every basin of the store: finite streamflow every day."""
    (source, out) = next(
        PARAMETERS.match(line).groups()
        for line in experiment.read_text(encoding="utf-8").splitlines()
        if PARAMETERS.match(line)
    )
    table = exphydro_parameters(ROOT / source)
    parameters = table.set_index("basin").astype(float)
    reader = StoreReader(config.store)
    parameters = parameters.loc[[b for b in reader.basins if b in parameters.index]]
    assert len(parameters) == len(reader.basins), f"{out}: parameters for some basins only"
    kind = CONCEPTUAL_MODELS[config.HYDROLOGICAL_MODEL]
    start = config.CALIBRATION_PERIOD.start
    year = Period(start, start + pd.DateOffset(years=1) - pd.Timedelta(days=1))
    frames = simulate_with_parameters(kind, config, reader, parameters, year)
    for basin, frame in frames.items():
        assert frame["streamflow_sim"].notna().all(), basin
        assert (frame["streamflow_sim"] >= 0).all(), basin


def untrained_donor(plan: TrainingPlan, workspace: Path) -> Donor:
    card = ModelCard(plan.model, plan.data, plan.norm, plan.basins, {}, {})
    return Donor([(build_model(plan.model), card)], workspace / "best_model.pt", "best_model.pt")


PLANNERS = {
    "run": plan_training,
    "train": plan_training,
    "tune": plan_sweep,
    "ensemble": plan_members,
    "pub": plan_folds,
    "transfer": plan_transfer,
}
