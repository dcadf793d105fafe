"""Regional models: shapes, initialisation, attention, EA-LSTM semantics, freezing, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from regional_lstm.models import (
    EALSTM,
    ConcatLSTM,
    ModelSpec,
    RegionalModel,
    build_model,
    freeze,
)

CONDITIONINGS = ["concat", "ealstm"]


def make_spec(**overrides: object) -> ModelSpec:
    """A small spec; keyword overrides change single fields."""
    fields = dict(
        n_dynamic=3, n_static=5, hidden_size=8, num_layers=1, dropout=0.0, use_attention=False
    )
    return ModelSpec(**{**fields, **overrides})


def make_inputs(spec: ModelSpec, batch: int = 4, seq: int = 7) -> dict[str, torch.Tensor]:
    return {
        "x_dynamic": torch.randn(batch, seq, spec.n_dynamic),
        "x_static": torch.randn(batch, spec.n_static),
    }


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
@pytest.mark.parametrize("use_attention", [False, True])
@pytest.mark.parametrize("targets", [("streamflow",), ("streamflow", "swe")])
@pytest.mark.parametrize("n_static", [0, 5])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_output_shapes(
    conditioning: str,
    use_attention: bool,
    targets: tuple[str, ...],
    n_static: int,
    num_layers: int,
) -> None:
    spec = make_spec(
        conditioning=conditioning,
        use_attention=use_attention,
        targets=targets,
        n_static=n_static,
        num_layers=num_layers,
        static_embedding=4 if n_static else None,
        dropout=0.2,
    )
    outputs = build_model(spec)(make_inputs(spec, batch=4, seq=7))
    assert outputs["y_hat"].shape == (4, len(targets))
    assert ("attention" in outputs) == use_attention
    if use_attention:
        assert outputs["attention"].shape == (4, 7)


def test_inputs_of_the_wrong_width_raise_naming_the_expected_sizes() -> None:
    spec = make_spec()
    inputs = {**make_inputs(spec), "x_static": torch.randn(4, spec.n_static + 1)}
    with pytest.raises(ValueError, match="expected 3 dynamic and 5 static inputs"):
        build_model(spec)(inputs)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_build_model_picks_the_class_of_the_conditioning(conditioning: str) -> None:
    model = build_model(make_spec(conditioning=conditioning))
    assert type(model) is {"concat": ConcatLSTM, "ealstm": EALSTM}[conditioning]


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_forget_gate_bias_starts_at_initial_forget_bias_on_every_layer(conditioning: str) -> None:
    spec = make_spec(conditioning=conditioning, num_layers=3, initial_forget_bias=2.5)
    model = build_model(spec)
    lstm = model.lstm if conditioning == "concat" else model.lstm.recurrent
    forget = slice(spec.hidden_size, 2 * spec.hidden_size)  # torch gate order: i, f, g, o
    for layer in range(spec.num_layers):
        bias_ih = getattr(lstm, f"bias_ih_l{layer}")
        bias_hh = getattr(lstm, f"bias_hh_l{layer}")
        assert torch.all(bias_ih[forget] == 0.0)
        assert torch.all(bias_hh[forget] == 2.5)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_attention_weights_are_non_negative_and_sum_to_one_over_time(conditioning: str) -> None:
    spec = make_spec(conditioning=conditioning, use_attention=True)
    weights = build_model(spec)(make_inputs(spec, batch=6, seq=11))["attention"]
    assert torch.all(weights >= 0)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(6))


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_tiny_model_overfits_a_tiny_synthetic_regression(conditioning: str) -> None:
    """y = (static attribute 0) x (sum of the last 5 steps of dynamic input 0)."""
    torch.manual_seed(0)
    spec = make_spec(conditioning=conditioning, n_dynamic=2, n_static=3, hidden_size=16)
    x_dynamic = torch.randn(64, 20, 2)
    x_static = torch.rand(64, 3) + 0.5
    target = (x_static[:, 0] * x_dynamic[:, -5:, 0].sum(dim=1)).unsqueeze(1)
    inputs = {"x_dynamic": x_dynamic, "x_static": x_static}
    model = build_model(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs)["y_hat"], target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def reference_ealstm_layer(
    layer: torch.nn.LSTM, n_dynamic: int, x_dynamic: torch.Tensor, static: torch.Tensor
) -> torch.Tensor:
    """The EA-LSTM equations step by step, reading the weights of the model's layer 0."""
    size = layer.hidden_size
    w_ih, w_hh = layer.weight_ih_l0, layer.weight_hh_l0
    bias = layer.bias_ih_l0 + layer.bias_hh_l0
    w_dynamic, w_static = w_ih[:, :n_dynamic], w_ih[:, n_dynamic:]
    input_gate = torch.sigmoid(static @ w_static[:size].T + bias[:size])
    h = torch.zeros(x_dynamic.shape[0], size)
    c = torch.zeros(x_dynamic.shape[0], size)
    outputs = []
    for step in range(x_dynamic.shape[1]):
        gates = x_dynamic[:, step] @ w_dynamic[size:].T + h @ w_hh[size:].T + bias[size:]
        forget, candidate, output = gates.chunk(3, dim=1)
        c = torch.sigmoid(forget) * c + input_gate * torch.tanh(candidate)
        h = torch.sigmoid(output) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def test_ealstm_computes_the_entity_aware_recurrence() -> None:
    """The input gate sees only statics; the other gates see no statics, whatever the weights."""
    spec = make_spec(conditioning="ealstm")
    model = build_model(spec)
    with torch.no_grad():
        for parameter in model.parameters():  # also fill the masked-out weight entries
            parameter.normal_()
    inputs = make_inputs(spec, batch=5, seq=9)
    expected = reference_ealstm_layer(
        model.lstm.recurrent, spec.n_dynamic, inputs["x_dynamic"], inputs["x_static"]
    )
    actual, _ = model.lstm(inputs["x_dynamic"], inputs["x_static"])
    torch.testing.assert_close(actual, expected)


def test_ealstm_input_gate_depends_only_on_statics() -> None:
    spec = make_spec(conditioning="ealstm", hidden_size=16)
    lstm = build_model(spec).lstm
    weights = lstm.masked_weights()
    gate_rows = slice(0, spec.hidden_size)  # torch gate order: i, f, g, o
    bias = (lstm.recurrent.bias_ih_l0 + lstm.recurrent.bias_hh_l0)[gate_rows]

    def input_gate(x_step: torch.Tensor, h: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        step_input = torch.cat([x_step, static], dim=1)
        w_ih, w_hh = weights["weight_ih_l0"][gate_rows], weights["weight_hh_l0"][gate_rows]
        return torch.sigmoid(step_input @ w_ih.T + h @ w_hh.T + bias)

    static = torch.randn(5, spec.n_static)
    x_step, h = torch.randn(5, spec.n_dynamic), torch.randn(5, spec.hidden_size)
    gate = input_gate(x_step, h, static)
    torch.testing.assert_close(input_gate(x_step + 3.0, -h, static), gate)
    torch.testing.assert_close(lstm.input_gate(static), gate)
    assert not torch.allclose(input_gate(x_step, h, static + 1.0), gate)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_freeze_lstm_leaves_only_the_other_parts_trainable(conditioning: str) -> None:
    model = build_model(
        make_spec(conditioning=conditioning, use_attention=True, static_embedding=4)
    )
    freeze(model, ["lstm"])
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    frozen = {name.split(".")[0] for name, p in model.named_parameters() if not p.requires_grad}
    assert trainable == {"embedding", "attention", "head"}
    assert frozen == {"lstm"}


def test_freeze_unknown_or_absent_part_raises_naming_the_valid_parts() -> None:
    model = build_model(make_spec(use_attention=False))
    assert model.module_parts == ("lstm", "head")
    with pytest.raises(ValueError, match=r"'lstm', 'head'"):
        freeze(model, ["encoder"])
    with pytest.raises(ValueError, match="attention"):
        freeze(model, ["attention"])


def test_model_spec_json_round_trip() -> None:
    spec = make_spec(
        conditioning="ealstm", static_embedding=6, use_attention=True, targets=["streamflow", "swe"]
    )
    assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_model_spec_rejects_unknown_keys_and_invalid_values() -> None:
    with pytest.raises(ValueError, match="unknown ModelSpec keys"):
        ModelSpec.from_dict({**make_spec().to_dict(), "hiden_size": 4})
    with pytest.raises(ValueError, match="static_embedding needs n_static"):
        make_spec(n_static=0, static_embedding=4)
    with pytest.raises(ValueError, match="conditioning"):
        make_spec(conditioning="film")


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_saved_state_dict_reloads_into_a_model_from_the_spec(
    conditioning: str, tmp_path: Path
) -> None:
    spec = make_spec(conditioning=conditioning, use_attention=True, static_embedding=4, dropout=0.3)
    model = build_model(spec)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "spec.json").write_text(json.dumps(spec.to_dict()))

    reloaded = build_model(ModelSpec.from_dict(json.loads((tmp_path / "spec.json").read_text())))
    reloaded.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True))
    inputs = make_inputs(spec)
    model.eval()
    reloaded.eval()
    for key, value in model(inputs).items():
        torch.testing.assert_close(reloaded(inputs)[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
def test_same_seed_gives_identical_initial_weights(conditioning: str) -> None:
    spec = make_spec(conditioning=conditioning, use_attention=True, static_embedding=4)

    def weights_after_seed(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        model: RegionalModel = build_model(spec)
        return model.state_dict()

    first, again, other = weights_after_seed(1), weights_after_seed(1), weights_after_seed(2)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def parameters_with_gradients(model: RegionalModel, spec: ModelSpec) -> set[str]:
    """Names of the parameters a backward pass through ``model`` gives a gradient."""
    model(make_inputs(spec))["y_hat"].sum().backward()
    return {name for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
@pytest.mark.parametrize("layer", [0, 1])
def test_freeze_one_lstm_layer_stops_gradients_for_exactly_its_parameters(
    conditioning: str, layer: int
) -> None:
    spec = make_spec(conditioning=conditioning, num_layers=2)
    model = build_model(spec)
    freeze(model, [f"lstm.{layer}"])
    names = {name for name, _ in model.named_parameters()}
    in_layer = {name for name in names if name.endswith(f"_l{layer}")}
    assert len(in_layer) == 4  # weight_ih, weight_hh, bias_ih, bias_hh
    assert parameters_with_gradients(model, spec) == names - in_layer


def test_freeze_a_layer_the_model_lacks_raises_naming_the_valid_parts() -> None:
    model = build_model(make_spec(num_layers=2))
    with pytest.raises(ValueError, match=r"'lstm\.2'.*'lstm\.0', 'lstm\.1'"):
        freeze(model, ["lstm.2"])


@pytest.mark.parametrize("conditioning", ["concat", "ealstm"])
def test_each_step_of_forward_steps_is_the_window_ending_there(conditioning) -> None:
    model = build_model(make_spec(conditioning=conditioning, num_layers=2)).eval()
    inputs = make_inputs(model.spec, batch=3, seq=12)
    with torch.no_grad():
        steps = model.forward_steps(inputs)["y_hat"]
        for t in (0, 5, 11):
            window = {"x_dynamic": inputs["x_dynamic"][:, : t + 1], "x_static": inputs["x_static"]}
            torch.testing.assert_close(steps[:, t], model(window)["y_hat"])


@pytest.mark.parametrize("conditioning", ["concat", "ealstm"])
def test_carried_state_continues_the_same_sequence(conditioning) -> None:
    model = build_model(make_spec(conditioning=conditioning)).eval()
    inputs = make_inputs(model.spec, batch=2, seq=10)
    head = {"x_dynamic": inputs["x_dynamic"][:, :4], "x_static": inputs["x_static"]}
    tail = {"x_dynamic": inputs["x_dynamic"][:, 4:], "x_static": inputs["x_static"]}
    with torch.no_grad():
        whole = model.forward_steps(inputs)["y_hat"]
        first = model.forward_steps(head)
        second = model.forward_steps(tail, first["state"])["y_hat"]
    torch.testing.assert_close(torch.cat([first["y_hat"], second], dim=1), whole)


def test_attention_model_has_no_stateful_form() -> None:
    model = build_model(make_spec(use_attention=True))
    with pytest.raises(ValueError, match="attention"):
        model.forward_steps(make_inputs(model.spec, batch=1, seq=5))
