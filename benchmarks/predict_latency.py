"""Operational latency: tomorrow's prediction for 500 basins, continued from a saved LSTM state
(one new day per basin) vs an exact window prediction (a lookback window per basin).

A synthetic store (500 basins by default), a regional LSTM trained briefly in-process (hidden
64, lookback 365) and saved as a project (`evaluation_modes.trained_project`). A stateful run
over the month before the day leaves the state; then, alternating, the day is predicted
``--repeats`` times each way, in this one process on the CPU, through the library calls
`predict` uses (`simulate_carried` with the state, `simulate_members` in exact mode), and once
each way through the whole `predict` workflow (model loading, state file, CSV files). Prints
median milliseconds per basin-day and the ratio exact / continued.

    python benchmarks/predict_latency.py [--basins 500 --repeats 7 --threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from evaluation_modes import CALIBRATION_YEARS, FIRST_YEAR, timed, trained_project

from regional_lstm.artifacts import load_model
from regional_lstm.config_periods import Period
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.carry import simulate_carried
from regional_lstm.evaluation.predict import simulate_members
from regional_lstm.pipeline.layout import BEST_MODEL
from regional_lstm.workflows.predict import predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory(prefix="predict-latency-") as folder:
        workdir = Path(folder)
        project = trained_project(workdir, args.basins, 1, 64, 365)
        members = [load_model(project / BEST_MODEL)]
        reader = StoreReader(workdir / "store.zarr")
        basins = list(reader.basins)
        day = pd.Timestamp(f"{FIRST_YEAR + CALIBRATION_YEARS}-12-31")
        month = Period(day - pd.Timedelta(days=31), day - pd.Timedelta(days=1))
        tomorrow = Period(day, day)
        _, state = simulate_carried(members, reader, basins, month)

        carried, exact = [], []
        for _ in range(args.repeats):
            carried.append(
                timed(lambda: simulate_carried(members, reader, basins, tomorrow, state=state))
            )
            exact.append(timed(lambda: simulate_members(members, reader, basins, tomorrow)))
        (continued, _), windows = (
            simulate_carried(members, reader, basins, tomorrow, state=state),
            simulate_members(members, reader, basins, tomorrow),
        )
        gap = max(abs(float(continued[0][b][0, 0] - windows[0][b][0, 0])) for b in basins)

        state_file = workdir / "state.safetensors"
        run = partial(predict, str(project), reader.path)  # the whole command, as the CLI runs it
        run(str(month), workdir / "month", mode="stateful", state_out=state_file)
        whole_carried = timed(
            lambda: run(str(tomorrow), workdir / "day_c", mode="stateful", state_in=state_file)
        )
        whole_exact = timed(lambda: run(str(tomorrow), workdir / "day_e"))

    n = len(basins)
    per_carried = 1000 * statistics.median(carried) / n
    per_exact = 1000 * statistics.median(exact) / n
    print(f"{n} basins, 1 day, hidden 64, lookback 365, {args.threads} torch thread(s)")
    print(
        f"continued from the state: {per_carried:.3f} ms per basin-day (median of {args.repeats})"
    )
    print(f"exact window:             {per_exact:.3f} ms per basin-day")
    print(f"ratio exact / continued:  {per_exact / per_carried:.1f}x")
    print(
        f"whole predict command: continued {whole_carried:.2f} s, exact {whole_exact:.2f} s "
        f"({whole_exact / whole_carried:.2f}x)"
    )
    print(
        f"largest difference between the two on that day: {gap:.3g} mm/day "
        "(a state that has run 395 days against a 365-day window)"
    )


if __name__ == "__main__":
    main()
