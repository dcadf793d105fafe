"""Ray Train callbacks: the Train controller runs them, on the driver's node, not the workers."""

from __future__ import annotations

import json
from pathlib import Path

from ray.train import UserCallback

# Each rank adds its Ray node id to what it reports (not a metric: MLflow gets it as a tag).
NODE_KEY = "node_id"


class EpochsToFile(UserCallback):
    """Appends rank 0's metrics of each reported epoch to a JSON-lines file, with the node
    of every rank as ``worker_nodes``.

    The driver follows the file and logs each line to the MLflow run (`train.train_on_ray`):
    so neither the training workers nor the controller import MLflow (about 80 MB with its SQL
    store, on each). The controller runs on the driver's node, so the file is within reach.
    """

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def after_report(self, run_context, metrics, checkpoint) -> None:
        record = {k: float(v) for k, v in metrics[0].items() if k != NODE_KEY}
        record["worker_nodes"] = [rank.get(NODE_KEY) for rank in metrics]
        line = json.dumps(record)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
