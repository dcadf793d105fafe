"""Partial attribute tables: the real CAMELS-US sample, whose tables lack some of its basins.

All ten tables of ``../shared/data/camels_us_cuahsi_sample`` lack 01022500 (it has forcing and
flow only) and ``camels_noahmp.txt`` also lacks 01013500: the 19 basins are ingested with
those attributes missing, one warning names the tables and basins, ``inspect`` shows them, and
a run refuses only when it uses a missing attribute.
"""

from __future__ import annotations

import numpy as np
import pytest

from regional_lstm.artifacts import ModelCard
from regional_lstm.data.ingest import ingest
from regional_lstm.data.inspect import summarize_store
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.store import open_store
from regional_lstm.errors import StoreError
from regional_lstm.models import build_model
from regional_lstm.pipeline.donors import Donor
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.workflows.transfer import check_target
from tests.conftest import log_lines, shared_dataset, tiny_config

FORCINGS = ["prcp", "srad", "tmax", "tmin", "vp", "dayl"]
NOAHMP = ["cwpvt_mean", "mfsno_mean", "root_depth_50", "root_depth_99", "vcmx25_mean"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample ingested once (about 10 s) and the toolkit's log lines while it ran."""
    source = shared_dataset("camels_us_cuahsi_sample")
    with log_lines() as lines:
        store = ingest(
            "camels-us", source, tmp_path_factory.mktemp("cuahsi") / "s.zarr", forcing="nldas"
        )
    return store, lines


def sample_config(store, project, basins=None, **overrides):
    """A short training config over the sample store (1995-1998)."""
    return tiny_config(
        store,
        project,
        DYNAMIC_INPUTS=FORCINGS,
        CALIBRATION_PERIOD=[1995, 1997],
        VALIDATION_PERIOD=[1998, 1998],
        BASINS=basins,
        **overrides,
    )


def complete_basins(store) -> list[str]:
    return [b for b in StoreReader(store).basins if b not in ("01013500", "01022500")]


@pytest.mark.shared_data
def test_every_basin_with_forcing_and_flow_is_ingested(sample):
    store, _ = sample
    assert open_store(store).sizes["basin"] == 19


@pytest.mark.shared_data
def test_attributes_of_a_table_without_the_basin_are_nan(sample):
    ds = open_store(sample[0])
    lacking = lambda name: list(ds["basin"].values[np.isnan(ds[name].values)])  # noqa: E731
    assert lacking("p_mean") == ["01022500"]
    assert lacking("cwpvt_mean") == ["01013500", "01022500"]
    assert str(ds["gauge_name"].sel(basin="01022500").values) == ""
    assert not np.isnan(ds["area"].values).any()  # from the forcing header, not a table


@pytest.mark.shared_data
def test_one_warning_names_each_table_and_its_basins(sample):
    warnings = [line for line in sample[1] if line.startswith("warning:")]
    assert len(warnings) == 1
    (warning,) = warnings
    assert "camels_clim.txt" in warning and "camels_soil.txt" in warning
    assert "camels_noahmp.txt lacks 01013500, 01022500" in warning
    assert "\n" not in warning


@pytest.mark.shared_data
def test_inspect_lists_each_basins_missing_attributes(sample):
    summary = summarize_store(sample[0])
    incomplete = summary["basins_missing_attributes"]
    assert set(NOAHMP) <= set(incomplete["01013500"])
    assert "p_mean" not in incomplete["01013500"]
    in_tables = [a["name"] for a in summary["static_attributes"] if a["name"] != "area"]
    assert sorted(incomplete["01022500"]) == sorted(in_tables)


@pytest.mark.shared_data
def test_training_with_a_missing_attribute_is_refused_naming_attribute_and_basins(sample, tmp_path):
    config = sample_config(sample[0], tmp_path, STATIC_ATTRIBUTES=["area", "p_mean", "cwpvt_mean"])
    with pytest.raises(StoreError) as caught:
        make_plan(config)
    message = str(caught.value)
    assert "\n" not in message
    assert "'p_mean' for basin(s) 01022500;" in message
    assert "'cwpvt_mean' for basin(s) 01013500, 01022500;" in message
    assert "'area'" not in message
    assert "drop the attribute(s) from STATIC_ATTRIBUTES or those basins" in message


@pytest.mark.shared_data
def test_training_on_the_complete_basins_plans(sample, tmp_path):
    basins = complete_basins(sample[0])
    config = sample_config(sample[0], tmp_path, basins, STATIC_ATTRIBUTES=["p_mean", "cwpvt_mean"])
    plan = make_plan(config)
    assert len(plan.basins) == 17
    assert np.isfinite(list(plan.norm.static_mean.values())).all()


@pytest.mark.shared_data
def test_training_without_the_missing_attributes_uses_every_basin(sample, tmp_path):
    plan = make_plan(sample_config(sample[0], tmp_path, STATIC_ATTRIBUTES=["area"]))
    assert len(plan.basins) == 19


@pytest.mark.shared_data
def test_transfer_to_basins_missing_a_donor_attribute_is_refused_before_predicting(
    sample, tmp_path
):
    donor_config = sample_config(
        sample[0], tmp_path / "donor", complete_basins(sample[0]), STATIC_ATTRIBUTES=["p_mean"]
    )
    plan = make_plan(donor_config)
    card = ModelCard(plan.model, plan.data, plan.norm, plan.basins, {}, {})
    donor = Donor([(build_model(plan.model), card)], tmp_path / "best_model.pt", "best_model.pt")
    config = sample_config(sample[0], tmp_path / "target", STATIC_ATTRIBUTES=["p_mean"])
    reader = StoreReader(sample[0])
    with pytest.raises(StoreError, match=r"'p_mean' for basin\(s\) 01022500; drop"):
        check_target(config, donor, reader, list(reader.basins))
