"""Where a project keeps its files (the SYMFLUENCE layout under PROJECT_DIR)."""

from __future__ import annotations

from pathlib import Path

BEST_MODEL = Path("models") / "LSTM" / "best_model.pt"
ENSEMBLE_DIR = Path("models") / "LSTM_ensemble"
RESULTS_DIR = Path("results")
TRAIN_LOG = Path("logs") / "train.log"
RAY_DIR = Path("ray")


def project_model(project_dir: Path) -> Path:
    """The project's saved model: its best_model.pt, else its ensemble folder if it has one."""
    single = project_dir / BEST_MODEL
    if not single.is_file() and (project_dir / ENSEMBLE_DIR).is_dir():
        return project_dir / ENSEMBLE_DIR
    return single
