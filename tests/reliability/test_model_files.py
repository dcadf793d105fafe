"""Model files from elsewhere: a pickled object (one whose unpickling would run code included), a
damaged file or a sidecar that does not describe its weights is refused in one line naming the
file, and nothing in it runs. Weights, checkpoints, carried states, ensemble manifests and
MLflow models are each loaded through the toolkit's own loaders."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from regional_lstm.artifacts import ModelCard, load_members, load_model, save_ensemble, save_model
from regional_lstm.errors import ModelFileError
from regional_lstm.evaluation.carry import load_state
from regional_lstm.models import build_model
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.pipeline.planning import make_plan
from regional_lstm.training.checkpoint import read_checkpoint, write_checkpoint
from regional_lstm.training.fit import WorkerContext, fit
from tests.conftest import assert_one_line_error, run_cli, tiny_config


class RunsCode:
    """Unpickling this runs ``touch <marker>``: what a hostile model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write_hostile(path: Path, marker: Path, how: str = "torch") -> Path:
    """A file that would run code if unpickled: torch's zip format, its legacy one or a pickle."""
    payload = {"lstm.weight_ih_l0": RunsCode(marker)}
    if how == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=how == "torch")
    return path


def one_line(error: pytest.ExceptionInfo, *needles: str) -> str:
    message = str(error.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message
    return message


@pytest.fixture(scope="module")
def saved_project(tiny_store, tmp_path_factory) -> Path:
    """A project whose best_model.pt (an untrained model) was written by the toolkit's writer."""
    config = tiny_config(tiny_store, tmp_path_factory.mktemp("model-files") / "project")
    plan = make_plan(config)
    card = ModelCard(plan.model, plan.data, plan.norm, plan.basins, config.to_yaml_dict(), {})
    save_model(config.PROJECT_DIR / BEST_MODEL, build_model(plan.model).state_dict(), card)
    return config.PROJECT_DIR


@pytest.fixture
def project(saved_project, tmp_path) -> Path:
    """A copy of the saved project, to tamper with."""
    return Path(shutil.copytree(saved_project, tmp_path / "project"))


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "MARKER"


def edit_sidecar(project: Path, edit) -> Path:
    sidecar = project / BEST_MODEL.with_suffix(".json")
    card = json.loads(sidecar.read_text())
    edit(card)
    sidecar.write_text(json.dumps(card))
    return sidecar


def test_an_untampered_model_loads(project):
    model, card = load_model(project / BEST_MODEL)
    assert card.data.dynamic == ("prcp", "tmin", "tmax", "pet")
    assert sum(p.numel() for p in model.parameters()) > 0


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch", "torch-legacy", "pickle"])
def test_a_code_running_pickle_as_best_model_is_refused_and_runs_nothing(project, marker, how):
    weights = write_hostile(project / BEST_MODEL, marker, how)
    with pytest.raises(ModelFileError) as error:
        load_model(weights)
    one_line(error, str(weights))
    assert not marker.exists()


def test_the_refusal_names_the_pickled_object(project, marker):
    weights = write_hostile(project / BEST_MODEL, marker)
    with pytest.raises(ModelFileError) as error:
        load_model(weights)
    one_line(error, "pickled Python object (posix.system)", "nothing in it was run")


def test_the_cli_refuses_a_code_running_best_model_in_one_line(project, marker):
    write_hostile(project / BEST_MODEL, marker)
    result = run_cli("evaluate", project, "--no-plots")
    assert_one_line_error(result, str(project / BEST_MODEL), "pickled Python object")
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:100], id="first-100-bytes"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: bytes(range(256)) * 16, id="foreign-bytes"),
        pytest.param(lambda data: b'{"weights": [1, 2, 3]}', id="json-text"),
        pytest.param(lambda data: data[:200] + bytes(500) + data[700:], id="zeroed-bytes"),
        pytest.param(lambda data: data[:-2000] + bytes(40) + data[-1960:], id="zeroed-tensor"),
    ],
)
def test_a_damaged_weights_file_is_one_line(project, damage):
    weights = project / BEST_MODEL
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(ModelFileError) as error:
        load_model(weights)
    one_line(error, str(weights))


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        pytest.param(lambda c: c.update(extra=1), "extra", id="unknown-top-level-key"),
        pytest.param(lambda c: c["model"].update(hiden_size=4), "hiden_size", id="unknown-model"),
        pytest.param(lambda c: c["data"].update(window=4), "window", id="unknown-data-key"),
        pytest.param(lambda c: c["normalization"].update(x={}), "x", id="unknown-norm-key"),
        pytest.param(lambda c: c["model"].update(hidden_size="16"), "model.hidden_size", id="str"),
        pytest.param(lambda c: c["model"].update(num_layers=1.5), "model.num_layers", id="float"),
        pytest.param(lambda c: c["model"].update(use_attention=1), "use_attention", id="int-bool"),
        pytest.param(lambda c: c["data"].update(lookback=True), "data.lookback", id="bool-int"),
        pytest.param(lambda c: c["data"].update(dynamic="prcp"), "data.dynamic", id="str-list"),
        pytest.param(lambda c: c.update(trained_basins=[1, 2]), "trained_basins", id="basin-ids"),
        pytest.param(lambda c: c.update(config=[]), "config", id="config-not-object"),
        pytest.param(lambda c: c.pop("normalization"), "normalization", id="missing-key"),
        pytest.param(lambda c: c["model"].pop("hidden_size"), "hidden_size", id="missing-model"),
        pytest.param(
            lambda c: c["normalization"]["dynamic_mean"].update(prcp="x"),
            "normalization.dynamic_mean",
            id="norm-value-str",
        ),
        pytest.param(
            lambda c: c["normalization"]["dynamic_std"].pop("pet"), "'pet'", id="norm-lacks-input"
        ),
        pytest.param(lambda c: c["model"].update(n_dynamic=5), "n_dynamic", id="inputs-differ"),
        pytest.param(lambda c: c["model"].update(n_static=2), "n_static", id="attributes-differ"),
        pytest.param(lambda c: c["model"].update(targets=["swe"]), "targets", id="targets-differ"),
        pytest.param(lambda c: c["model"].update(dropout=2.0), "dropout", id="invalid-spec"),
        pytest.param(lambda c: c.update(format_version=2), "format_version", id="newer-format"),
    ],
)
def test_a_sidecar_with_a_bad_key_is_one_line_naming_it(project, edit, key):
    sidecar = edit_sidecar(project, edit)
    with pytest.raises(ModelFileError) as error:
        load_model(project / BEST_MODEL)
    one_line(error, str(sidecar), key)


@pytest.mark.parametrize(
    "text", [b"{not json", b"[1, 2]", b"\xff\xfe\x00garbage", pickle.dumps({"a": 1})]
)
def test_a_sidecar_that_is_not_a_json_object_is_one_line(project, text):
    sidecar = project / BEST_MODEL.with_suffix(".json")
    sidecar.write_bytes(text)
    with pytest.raises(ModelFileError) as error:
        load_model(project / BEST_MODEL)
    one_line(error, str(sidecar))


def test_weights_of_another_size_than_the_sidecar_says_name_the_first_tensor(project):
    edit_sidecar(project, lambda card: card["model"].update(hidden_size=8))
    with pytest.raises(ModelFileError) as error:
        load_model(project / BEST_MODEL)
    one_line(error, str(project / BEST_MODEL), "tensor 'head.weight'", "(1, 16)", "(1, 8)")


@pytest.mark.parametrize(
    ("tamper", "needle"),
    [
        pytest.param(lambda s: s.pop("head.weight"), "no tensor 'head.weight'", id="missing"),
        pytest.param(lambda s: s.update(extra=torch.zeros(2)), "'extra' is not in", id="extra"),
        pytest.param(lambda s: s.update({"head.bias": [0.0]}), "not a tensor", id="not-a-tensor"),
        pytest.param(
            lambda s: s.update({"head.bias": s["head.bias"].double()}), "float64", id="dtype"
        ),
    ],
)
def test_weights_that_do_not_fit_the_model_name_the_tensor(project, tamper, needle):
    weights = project / BEST_MODEL
    state = torch.load(weights, weights_only=True)
    tamper(state)
    torch.save(state, weights)
    with pytest.raises(ModelFileError) as error:
        load_model(weights)
    one_line(error, str(weights), needle)


@pytest.fixture
def checkpoint(project, tmp_path) -> Path:
    """A checkpoint folder as a worker writes it after one epoch."""
    model, _ = load_model(project / BEST_MODEL)
    optimizer = torch.optim.Adam(model.parameters())
    state = {
        "epoch": 1,
        "history": [],
        "stopped_early": False,
        "early_stopping": {"best": 0.1, "best_epoch": 0, "bad_epochs": 0},
    }
    weights = model.state_dict()
    return write_checkpoint(tmp_path / "ckpt", weights, weights, optimizer.state_dict(), state)


@pytest.mark.parametrize("name", ["model.pt", "best_model.pt", "optimizer.pt"])
def test_a_code_running_pickle_in_a_checkpoint_is_refused_and_runs_nothing(
    checkpoint, marker, name
):
    write_hostile(checkpoint / name, marker)
    with pytest.raises(ModelFileError) as error:
        read_checkpoint(checkpoint)
    one_line(error, str(checkpoint / name), "pickled Python object")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        pytest.param(lambda s: s.update(epoch="1"), "epoch", id="epoch-str"),
        pytest.param(lambda s: s.update(resume_hook="x"), "resume_hook", id="unknown-key"),
        pytest.param(lambda s: s.pop("history"), "history", id="missing"),
        pytest.param(lambda s: s["early_stopping"].update(patience=1), "patience", id="early"),
    ],
)
def test_a_checkpoint_state_with_a_bad_key_is_one_line(checkpoint, edit, key):
    state_file = checkpoint / "state.json"
    state = json.loads(state_file.read_text())
    edit(state)
    state_file.write_text(json.dumps(state))
    with pytest.raises(ModelFileError) as error:
        read_checkpoint(checkpoint)
    one_line(error, str(state_file), key)


def test_a_truncated_checkpoint_file_is_one_line(checkpoint):
    optimizer = checkpoint / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:300])
    with pytest.raises(ModelFileError) as error:
        read_checkpoint(checkpoint)
    one_line(error, str(optimizer), "damaged")


def test_fine_tuning_from_code_running_initial_weights_is_refused_and_runs_nothing(
    tiny_store, project, marker
):
    config = tiny_config(tiny_store, project)
    hostile = write_hostile(project / "donor.pt", marker)
    plan = dataclasses.replace(make_plan(config), initial_weights=str(hostile))
    with pytest.raises(ModelFileError) as error:
        fit(plan, WorkerContext())
    one_line(error, str(hostile), "pickled Python object")
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch", "pickle"])
def test_a_code_running_pickle_as_a_state_file_is_refused_and_runs_nothing(tmp_path, marker, how):
    state = write_hostile(tmp_path / "state.safetensors", marker, how)
    with pytest.raises(ModelFileError) as error:
        load_state(state)
    one_line(error, str(state), "not a state file")
    assert not marker.exists()


@pytest.fixture
def ensemble(project, tmp_path) -> Path:
    """An ensemble folder of two members (the same weights twice) with its manifest."""
    weights = project / BEST_MODEL
    info = {"statistic": "mean", "seeds": [1, 2], "member_runs": ["a", "b"]}
    return save_ensemble(tmp_path / "ensemble", [weights, weights], info)


def edit_manifest(manifest: Path, edit) -> None:
    data = json.loads(manifest.read_text())
    edit(data)
    manifest.write_text(json.dumps(data))


def test_an_untampered_ensemble_loads(ensemble):
    members, manifest = load_members(ensemble)
    assert len(members) == 2 and manifest["seeds"] == [1, 2]


def test_a_code_running_member_of_an_ensemble_is_refused_and_runs_nothing(ensemble, marker):
    member = write_hostile(ensemble.parent / "member_1" / "best_model.pt", marker)
    with pytest.raises(ModelFileError) as error:
        load_members(ensemble.parent)
    one_line(error, str(member), "pickled Python object")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        pytest.param(lambda m: m.update(hook="x"), "hook", id="unknown-key"),
        pytest.param(lambda m: m.update(members="member_0"), "members", id="members-str"),
        pytest.param(lambda m: m.update(members=[]), "members", id="no-members"),
        pytest.param(lambda m: m.update(members=[0]), "members", id="member-int"),
        pytest.param(lambda m: m.update(statistic="max"), "statistic", id="statistic"),
        pytest.param(lambda m: m.update(seeds=["1"]), "seeds", id="seeds"),
        pytest.param(lambda m: m.update(member_runs=[1]), "member_runs", id="member-runs"),
        pytest.param(lambda m: m.pop("format_version"), "format_version", id="missing"),
        pytest.param(
            lambda m: m.update(members=["../../project/models/LSTM/best_model.pt"]),
            "not a file inside the ensemble folder",
            id="member-outside",
        ),
        pytest.param(
            lambda m: m.update(members=["/etc/passwd"]),
            "not a file inside the ensemble folder",
            id="member-absolute",
        ),
    ],
)
def test_an_ensemble_manifest_with_a_bad_key_is_one_line(ensemble, edit, key):
    edit_manifest(ensemble, edit)
    with pytest.raises(ModelFileError) as error:
        load_members(ensemble)
    one_line(error, str(ensemble), key)


def test_a_pickled_ensemble_manifest_is_refused_and_runs_nothing(ensemble, marker):
    ensemble.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(ModelFileError) as error:
        load_members(ensemble)
    one_line(error, str(ensemble), "not UTF-8")
    assert not marker.exists()


def test_an_mlflow_model_with_code_running_weights_is_refused_by_its_pyfunc(
    tiny_store, project, marker
):
    import mlflow

    from regional_lstm.tracking.models import log_model
    from regional_lstm.tracking.runs import closing, start_run
    from regional_lstm.tracking.store import using_store

    config = tiny_config(tiny_store, project)
    tracked = start_run(config, "train")
    with closing(tracked):
        uri = log_model(tracked, project / BEST_MODEL)
    with using_store(tracked.uri):
        local = Path(mlflow.artifacts.download_artifacts(uri))  # a local store: its own folder
        logged = next(local.rglob("best_model.pt"))
        write_hostile(logged, marker)
        with pytest.raises(ModelFileError) as error:
            mlflow.pyfunc.load_model(uri)
    one_line(error, "best_model.pt", "pickled Python object")
    assert not marker.exists()
