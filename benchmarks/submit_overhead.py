"""What `regional-lstm submit --wait` costs over running the same experiment locally.

One experiment (a synthetic store, 2 Train workers, a few short epochs, then the evaluation
`train` runs) is trained twice, alternating over ``--repeats``: as `regional-lstm train CONFIG`
on its own embedded Ray, and as `regional-lstm submit CONFIG --verb train --wait` to a running
two-node cluster on this machine (Ray's test cluster, a head and one more node with one CPU
each, its Job API on 127.0.0.1; started once, before the timings, as a real cluster would be
running already). Prints the median wall times, the ratio submit / local and the difference.

    python benchmarks/submit_overhead.py [--basins 20 --epochs 3 --repeats 2]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from ray.cluster_utils import Cluster

from regional_lstm.config import Config
from regional_lstm.data.synth import synthesize


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(folder: Path, store: Path, name: str, epochs: int) -> Path:
    config = Config.from_mapping(
        {
            "DOMAIN_NAME": "bench",
            "DATA_STORE": str(store),
            "PROJECT_DIR": str(folder / name),
            "DYNAMIC_INPUTS": ["prcp", "tmin", "tmax", "srad", "pet", "dayl"],
            "STATIC_ATTRIBUTES": ["area", "elev_mean", "aridity"],
            "CALIBRATION_PERIOD": [1990, 1995],
            "VALIDATION_PERIOD": [1996, 1997],
            "LSTM_HIDDEN_SIZE": 32,
            "LSTM_LOOKBACK": 180,
            "LSTM_EPOCHS": epochs,
            "LSTM_SAMPLES_PER_EPOCH": 8192,
            "RAY_NUM_WORKERS": 2,
        },
        source="benchmark",
    )
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config.to_yaml_dict()), encoding="utf-8")
    return path


def _timed(command: list[str]) -> float:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}{result.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basins", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "regional_lstm"]
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
        folder = Path(tmp)
        store = synthesize(folder / "store.zarr", basins=args.basins, years=8, seed=0)
        port = _free_port()
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": 1,
                "include_dashboard": True,
                "dashboard_host": "127.0.0.1",
                "dashboard_port": port,
                "dashboard_agent_listen_port": _free_port(),
            },
        )
        cluster.add_node(num_cpus=1, dashboard_agent_listen_port=_free_port())
        cluster.wait_for_nodes()
        address = f"http://127.0.0.1:{port}"
        times: dict[str, list[float]] = {"local": [], "submit": []}
        try:
            for repeat in range(args.repeats):
                local = _config(folder, store, f"local{repeat}", args.epochs)
                times["local"].append(_timed([*cli, "train", str(local)]))
                remote = _config(folder, store, f"submit{repeat}", args.epochs)
                times["submit"].append(
                    _timed(
                        [
                            *cli,
                            "submit",
                            str(remote),
                            "--verb",
                            "train",
                            "--address",
                            address,
                            "--wait",
                        ]
                    )
                )
        finally:
            cluster.shutdown()
    local, submit = (statistics.median(times[k]) for k in ("local", "submit"))
    print(
        f"{args.basins} basins, {args.epochs} epochs of 8,192 windows, 2 Train workers, "
        f"median of {args.repeats}"
    )
    print(f"local `train` (its own embedded Ray): {local:.1f} s  {times['local']}")
    print(f"`submit --wait` (running 2-node cluster): {submit:.1f} s  {times['submit']}")
    print(f"submit / local: {submit / local:.2f}x ({submit - local:+.1f} s)")


if __name__ == "__main__":
    main()
