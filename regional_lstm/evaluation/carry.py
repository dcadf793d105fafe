"""Stateful prediction carried from one run to the next: the LSTM state after a period is saved,
and the next period continues from it, one new day per basin instead of a lookback window.

The LSTM runs once through each gap-free stretch of a basin's inputs, from a zero state, and
predicts from the stretch's ``lookback``-th day on (its spin-up), as `predict_block_stateful`
does. What a run leaves behind, per member and basin, is the state after the period's last day
and the age of its stretch (days since the stretch began; 0: the inputs ended in a gap, so
there is no state). A run that starts from those continues each stretch as if the two periods
had been one: a basin whose spin-up was not over yet finishes it, one whose first new day has
no inputs starts a fresh stretch after the gap.

State files are safetensors (tensors and a JSON header, nothing to unpickle): ``h`` and ``c``
(members, layers, basins, hidden) float32 and ``age`` (basins,) int64, with the basins, the
last date and the fingerprint of the members' weights in the header.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from regional_lstm.accelerator import to_device
from regional_lstm.artifacts import ModelCard
from regional_lstm.atomic import atomic_path
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.data.sampling import BasinBlock, iter_blocks
from regional_lstm.errors import ModelFileError, RegionalLSTMError
from regional_lstm.evaluation.predict import STATEFUL_CHUNK_DAYS, check_mode
from regional_lstm.progress import progress

STATE_FORMAT = 1
HEADER = "regional_lstm_state"


@dataclass(frozen=True)
class CarriedState:
    """Per member and basin the LSTM state after ``last_date`` and the age of its stretch."""

    basins: list[str]
    last_date: pd.Timestamp
    h: np.ndarray  # (members, layers, basins, hidden) float32
    c: np.ndarray
    age: np.ndarray  # (basins,) days the stretch had run; 0 where there is no state
    model: str  # `weights_fingerprint` of the members

    def of(self, basins: Sequence[str]) -> CarriedState:
        """The states of ``basins``, in that order; a basin without one is an error."""
        position = {basin: i for i, basin in enumerate(self.basins)}
        missing = [b for b in basins if b not in position]
        if missing:
            raise RegionalLSTMError(
                f"the state holds no basin {missing[0]!r} ({len(missing)} of the requested "
                f"basins are not in it): predict them from a lookback window without --state-in"
            )
        rows = [position[b] for b in basins]
        h, c, age = self.h[:, :, rows], self.c[:, :, rows], self.age[rows]
        return CarriedState(list(basins), self.last_date, h, c, age, self.model)


def weights_fingerprint(models: Sequence[nn.Module]) -> str:
    """A SHA-256 of the members' weights (names, shapes and values, in order)."""
    digest = hashlib.sha256()
    for model in models:
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def save_state(path: str | Path, state: CarriedState) -> Path:
    """Write ``state`` as one safetensors file, atomically."""
    from safetensors.numpy import save_file

    header = {
        "format": STATE_FORMAT,
        "basins": state.basins,
        "last_date": str(state.last_date.date()),
        "model": state.model,
    }
    tensors = {"h": state.h, "c": state.c, "age": state.age.astype(np.int64)}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={HEADER: json.dumps(header)})
    return Path(path)


def load_state(path: str | Path) -> CarriedState:
    """Read a state file, checking that it is one of ours and consistent; one line if not."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (OSError, SafetensorError) as error:
        reason = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise ModelFileError(f"{path}: not a state file ({reason})") from None
    try:
        header = json.loads(metadata[HEADER])
        basins = [str(b) for b in header["basins"]]
        last_date = pd.Timestamp(header["last_date"])
        model = str(header["model"])
        fmt = header["format"]
    except (KeyError, TypeError, ValueError):
        raise ModelFileError(f"{path}: not a regional-lstm state file (no header)") from None
    if fmt != STATE_FORMAT or set(tensors) != {"h", "c", "age"}:
        raise ModelFileError(f"{path}: state format {fmt} with {sorted(tensors)} not known")
    h, c, age = tensors["h"], tensors["c"], tensors["age"]
    n = len(basins)
    if h.ndim != 4 or h.shape != c.shape or h.shape[2] != n or age.shape != (n,):
        raise ModelFileError(f"{path}: state shapes {h.shape}, {c.shape}, {age.shape} disagree")
    return CarriedState(basins, last_date, h.astype(np.float32), c.astype(np.float32), age, model)


@dataclass(frozen=True)
class _Stretch:
    """A run of gap-free input days of one basin: block rows ``start:stop``, starting from the
    state of row ``carried`` of the incoming state (or zeros) at age ``age``."""

    basin: int
    start: int
    stop: int
    carried: int | None
    age: int


def simulate_carried(
    members: Sequence[tuple[nn.Module, ModelCard]],
    reader: StoreReader,
    basins: Sequence[str],
    period: Period,
    *,
    state: CarriedState | None = None,
    batch_size: int = 1024,
    device: torch.device | None = None,
) -> tuple[list[dict[str, np.ndarray]], CarriedState]:
    """Per member and basin the stateful simulation over ``period`` (period days, targets) in
    store units, NaN where there is none, and the state after the period's last day.

    With ``state`` (ending the day before ``period``), each basin's stretch goes on from it.
    All members must read the same inputs (an ensemble's seeds do).
    """
    cards = [card for _, card in members]
    check_mode(cards, "stateful")
    card = cards[0]
    if any(c.data != card.data or c.normalization != card.normalization for c in cards):
        raise RegionalLSTMError("members carried together must share inputs and normalisation")
    fingerprint = weights_fingerprint([model for model, _ in members])
    if state is not None:
        check_continues(state, fingerprint, period)
    device = device or torch.device("cpu")
    lookback, targets, norm = card.data.lookback, list(card.data.targets), card.normalization
    for model, _ in members:
        model.to(device).eval()
    times = reader.time_slice(period.start, period.end)
    days = times.stop - times.start
    layers, hidden = card.model.num_layers, card.model.hidden_size
    n = len(basins)
    h_out = np.zeros((len(members), layers, n, hidden), np.float32)
    c_out = np.zeros_like(h_out)
    age_out = np.zeros(n, np.int64)
    out: list[dict[str, np.ndarray]] = [{} for _ in members]
    first = 0
    with progress(n, f"predict {period}") as advance:
        blocks = iter_blocks(reader, list(basins), period, card.data, norm, need_target=False)
        for block, _ in blocks:
            rows = slice(first, first + len(block.basins))
            incoming = state.of(block.basins) if state is not None else None
            stretches = _stretches(block, lookback, incoming)
            for k, (model, _) in enumerate(members):
                carried = None if incoming is None else (incoming.h[k], incoming.c[k])
                simulated, h, c, age = _run(
                    model, block, stretches, carried, lookback, batch_size, device, (layers, hidden)
                )
                h_out[k, :, rows], c_out[k, :, rows], age_out[rows] = h, c, age
                for i, basin in enumerate(block.basins):
                    values = simulated[i, block.period_start :]
                    out[k][basin] = norm.unscale_target(values, targets)[:days]
            first += len(block.basins)
            advance(len(block.basins), block.basins[-1])
    return out, CarriedState(list(basins), period.end, h_out, c_out, age_out, fingerprint)


def check_continues(state: CarriedState, fingerprint: str, period: Period) -> None:
    """A state continues a run only of the same weights, ending the day before ``period``."""
    if state.model != fingerprint:
        raise RegionalLSTMError(
            "the state was saved by another model (weights fingerprint "
            f"{state.model[:12]}, this model's {fingerprint[:12]})"
        )
    expected = period.start - pd.Timedelta(days=1)
    if state.last_date != expected:
        raise RegionalLSTMError(
            f"the state ends on {state.last_date.date()}: a period continuing it starts on "
            f"{(state.last_date + pd.Timedelta(days=1)).date()}, not {period.start.date()}"
        )


def _stretches(block: BasinBlock, lookback: int, incoming: CarriedState | None) -> list[_Stretch]:
    """Every stretch that yields predictions or the final state.

    A basin with an incoming state whose first day of the period has inputs continues it from
    there; the days before the period were that state's. Other stretches start from zeros:
    those at least ``lookback`` days long, and a shorter one only if it reaches the end (its
    state is carried).
    """
    clean = ~np.isnan(block.x).any(axis=-1)
    edges = np.diff(np.pad(clean.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    p0, end = block.period_start, len(block.time)
    found = []
    for i in range(len(block.basins)):
        starts, stops = np.flatnonzero(edges[i] == 1), np.flatnonzero(edges[i] == -1)
        carried = incoming is not None and incoming.age[i] > 0 and p0 < end and clean[i, p0]
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            if carried and b <= p0:
                continue  # days the incoming state has seen
            if carried and a <= p0:
                found.append(_Stretch(i, p0, b, i, int(incoming.age[i])))
            elif b - a >= lookback or b == end:
                found.append(_Stretch(i, a, b, None, 0))
    return found


@torch.no_grad()
def _run(model, block, stretches, carried, lookback, batch_size, device, size):
    """One member through ``stretches``: standardised simulation (basin, time, targets), and
    per basin the state and stretch age after the block's last day."""
    layers, hidden = size
    n_basins, n_time = len(block.basins), len(block.time)
    simulated = np.full((n_basins, n_time, block.y.shape[-1]), np.nan, np.float32)
    h_end = np.zeros((layers, n_basins, hidden), np.float32)
    c_end = np.zeros_like(h_end)
    age_end = np.zeros(n_basins, np.int64)
    ordered = sorted(stretches, key=lambda s: s.stop - s.start, reverse=True)
    for first in range(0, len(ordered), batch_size):
        batch = ordered[first : first + batch_size]
        lengths = [s.stop - s.start for s in batch]
        longest = lengths[0]
        x = np.zeros((len(batch), longest, block.x.shape[-1]), np.float32)
        h0 = np.zeros((layers, len(batch), hidden), np.float32)
        c0 = np.zeros_like(h0)
        for k, s in enumerate(batch):
            x[k, : s.stop - s.start] = block.x[s.basin, s.start : s.stop]
            if s.carried is not None:
                h0[:, k], c0[:, k] = carried[0][:, s.carried], carried[1][:, s.carried]
        static = torch.from_numpy(block.static[[s.basin for s in batch]])
        state = (torch.from_numpy(h0).to(device), torch.from_numpy(c0).to(device))
        y_hat = np.empty((len(batch), longest, simulated.shape[-1]), np.float32)
        # Segments end where a stretch ends (its final state is read there) or a chunk is full.
        chunks = range(STATEFUL_CHUNK_DAYS, longest, STATEFUL_CHUNK_DAYS)
        bounds = sorted(set(lengths) | set(chunks))
        begin = 0
        for stop in bounds:
            inputs = to_device(
                {"x_dynamic": torch.from_numpy(x[:, begin:stop]), "x_static": static}, device
            )
            result = model.forward_steps(inputs, state)
            y_hat[:, begin:stop], state = result["y_hat"].float().cpu().numpy(), result["state"]
            for k, s in enumerate(batch):
                if s.stop - s.start == stop and s.stop == n_time:
                    h_end[:, s.basin] = state[0][:, k].cpu().numpy()
                    c_end[:, s.basin] = state[1][:, k].cpu().numpy()
                    age_end[s.basin] = s.age + stop
            begin = stop
        for k, s in enumerate(batch):
            # Day t of the stretch has seen age + t + 1 days: predicted once that is lookback.
            skip = max(0, lookback - 1 - s.age)
            if skip < s.stop - s.start:
                simulated[s.basin, s.start + skip : s.stop] = y_hat[k, skip : s.stop - s.start]
    return simulated, h_end, c_end, age_end
