"""The CLI's commands for conceptual models: `simulate` one with parameters from a file.

Registered on the main app by `regional_lstm.cli`; kept apart so each module stays short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def simulate(
    config: Annotated[
        Path, typer.Argument(help="Experiment YAML naming a conceptual HYDROLOGICAL_MODEL.")
    ],
    parameters: Annotated[
        Path,
        typer.Option(
            "--parameters",
            help="CSV with a 'basin' column and one column per parameter (and initial store), "
            "named as the model's documentation names them.",
        ),
    ],
    period: Annotated[
        str | None,
        typer.Option(help="Scored period, e.g. '2005,2010' (default VALIDATION_PERIOD)."),
    ] = None,
    plots: Annotated[bool, typer.Option(help="Write hydrographs and the NSE CDF.")] = True,
) -> None:
    """Run a conceptual model (EXPHYDRO) with given per-basin parameters, e.g. a calibration
    from elsewhere, from the start of CALIBRATION_PERIOD; write PROJECT_DIR/simulation/."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.simulate import simulate_tracked

    simulate_tracked(load_config(config), parameters, period=period, plots=plots)
