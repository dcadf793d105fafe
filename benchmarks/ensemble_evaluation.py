"""An ensemble's evaluation in one pass over the data vs one model at a time.

Members of a seed ensemble share inputs and normalisation, so `predict_members` reads and
standardises each block of basins once and feeds it to every member; the baseline calls
`predict_period` per member (each reading the store again). Same store and model shapes as
`evaluation_modes.py`; members are copies of one briefly trained model with perturbed heads.
Prints median seconds of each and the ratio member-at-a-time / one-pass in stateful mode, where
reading is a large share of the work (``--exact`` adds exact mode, where the LSTM dominates).

    python benchmarks/ensemble_evaluation.py [--members 5 --basins 50 --years 5 --repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from evaluation_modes import trained_project

from regional_lstm.artifacts import load_model
from regional_lstm.config import Config
from regional_lstm.data.reader import StoreReader
from regional_lstm.evaluation.predict import predict_members, predict_period
from regional_lstm.pipeline.layout import BEST_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--basins", type=int, default=50)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--exact", action="store_true", help="also time exact mode (minutes)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp:
        project = trained_project(Path(tmp), args.basins, args.years, 64, 365)
        members = []
        for k in range(args.members):
            model, card = load_model(project / BEST_MODEL)
            with torch.no_grad():
                model.head.bias.add_(0.01 * k)
            members.append((model, card))
        period = Config.from_mapping(card.config, source="benchmark").VALIDATION_PERIOD
        basins = card.trained_basins
        results = {}
        for mode in ("stateful", "exact") if args.exact else ("stateful",):
            one_pass, per_member = [], []
            for _ in range(args.repeats if mode == "stateful" else 1):
                reader = StoreReader(card.config["DATA_STORE"])
                start = time.perf_counter()
                predict_members(members, reader, basins, period, mode=mode)
                one_pass.append(time.perf_counter() - start)
                start = time.perf_counter()
                for model, card in members:
                    reader = StoreReader(card.config["DATA_STORE"])
                    predict_period(model, card, reader, basins, period, mode=mode)
                per_member.append(time.perf_counter() - start)
            results[mode] = (statistics.median(one_pass), statistics.median(per_member))
    print(
        f"{args.members} members, {args.basins} basins x {args.years} years, hidden 64, "
        f"lookback 365, median of {args.repeats}"
    )
    for mode, (one_pass, per_member) in results.items():
        print(
            f"{mode:8s}: one pass {one_pass:.2f} s, a member at a time {per_member:.2f} s, "
            f"ratio {per_member / one_pass:.2f}x"
        )


if __name__ == "__main__":
    main()
