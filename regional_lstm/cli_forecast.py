"""The CLI's operational commands: `predict` a period with a trained model, observed or not, and
`export` a model to one ONNX or TorchScript file.

Registered on the main app by `regional_lstm.cli`; kept apart so each module stays short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, soft_wrap=True)
MODEL = "A project directory, best_model.pt, ensemble folder, models:/NAME@ALIAS or runs:/ID/model."
TRACKING = "MLflow store of models:/ and runs:/ references."


def predict(
    model: Annotated[str, typer.Argument(help=MODEL)],
    store: Annotated[
        str, typer.Option("--store", help="Path or URL of a store with the model's inputs.")
    ],
    period: Annotated[
        str, typer.Option(help="Days to predict, e.g. '2024-06-01,2024-06-30' or '2020,2023'.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="A .zarr or .nc dataset, or a folder of <basin>_LSTM_predictions.csv."
        ),
    ],
    basins: Annotated[
        Path | None, typer.Option("--basins", help="Text file, one basin id per line.")
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            help="exact: one lookback window per day; stateful: one pass carrying the state."
        ),
    ] = "exact",
    state_in: Annotated[
        Path | None, typer.Option("--state-in", help="Continue from this saved LSTM state.")
    ] = None,
    state_out: Annotated[
        Path | None, typer.Option("--state-out", help="Save the LSTM state after the period.")
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            envvar="MLFLOW_TRACKING_URI",
            help=TRACKING,
        ),
    ] = None,
    withhold_readings: Annotated[
        bool,
        typer.Option(
            help="Predict a model with lagged streamflow as if no reading existed (ungauged)."
        ),
    ] = False,
) -> None:
    """Predict streamflow for a period from forcings alone (observations not needed)."""
    from regional_lstm.workflows.predict import predict as predict_workflow

    outcome = predict_workflow(
        model,
        store,
        period,
        out,
        basins=basins,
        mode=mode,
        state_in=state_in,
        state_out=state_out,
        tracking_uri=tracking_uri,
        withhold_readings=withhold_readings,
    )
    err.print(
        f"wrote {outcome.out} ({len(outcome.basins)} basins x {len(outcome.dates)} days)",
        markup=False,
    )


def export(
    model: Annotated[str, typer.Argument(help=MODEL)],
    format: Annotated[str, typer.Option("--format", help="onnx or torchscript.")],
    out: Annotated[Path, typer.Option("--out", help="The file to write (FILE.json beside it).")],
    store: Annotated[
        str | None,
        typer.Option("--store", help="Store whose units the inputs take (default: the model's)."),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", help=TRACKING)
    ] = None,
) -> None:
    """Export a model as one file taking physical units: ONNX (onnxruntime) or TorchScript."""
    from regional_lstm.workflows.export import export as export_workflow

    written, sidecar = export_workflow(model, format, out, store=store, tracking_uri=tracking_uri)
    err.print(f"wrote {written} and {sidecar.name}", markup=False)
