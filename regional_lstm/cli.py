"""The ``regional-lstm`` command: verbs for the jobs, each a thin call into the public API."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from regional_lstm import cli_cluster, cli_forecast, cli_models
from regional_lstm.cli_output import print_store
from regional_lstm.errors import RegionalLSTMError
from regional_lstm.locations import redact_passwords
from regional_lstm.registry import INGEST_ADAPTERS

app = typer.Typer(
    help="Regional LSTMs for streamflow over many basins: ingest, train, tune, transfer to "
    "ungauged basins, PUB cross-validation, seed ensembles.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
# Piped or captured (a job log, `| less`, CI) tables keep their full width instead of 80 columns.
out = Console() if sys.stdout.isatty() else Console(width=100_000)
STORE_AT = "Path or URL (s3://, gs://, az://) of a Zarr store."
STORE_OUT = "Path or URL (s3://, gs://, az://) of the Zarr store to create."
WITHHOLD = "Predict a model with lagged streamflow as if no reading existed (ungauged)."


@app.command()
def ingest(
    kind: Annotated[str, typer.Argument(help=f"Source format: {', '.join(INGEST_ADAPTERS)}.")],
    source_dir: Annotated[Path, typer.Argument(help="Root folder of the dataset as downloaded.")],
    out: Annotated[str, typer.Option("--out", help=STORE_OUT)],
    basins: Annotated[
        Path | None, typer.Option("--basins", help="Text file, one basin id per line.")
    ] = None,
    forcing: Annotated[
        str | None, typer.Option(help="camels-us forcing: daymet, maurer, maurer_extended, nldas.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="csv: mapping YAML (see datasets/csv.md).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
) -> None:
    """Ingest a dataset once into a Zarr store (basin x time, attributes, units)."""
    from regional_lstm.data.ingest import ingest as ingest_dataset

    path = ingest_dataset(
        kind,
        source_dir,
        out,
        basins_file=basins,
        forcing=forcing,
        mapping=mapping,
        overwrite=overwrite,
    )
    err.print(f"wrote {path}", markup=False)


@app.command()
def synth(
    out: Annotated[str, typer.Option("--out", help=STORE_OUT)],
    basins: Annotated[int, typer.Option(min=1, help="Number of basins.")] = 20,
    years: Annotated[int, typer.Option(min=1, help="Years of daily data.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same store.")] = 0,
    gaps: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="Fraction of streamflow days missing.")
    ] = 0.0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing store.")] = False,
) -> None:
    """Make a synthetic CAMELS-style store from a small conceptual model (snow, soil, routing)."""
    from regional_lstm.data.synth import synthesize

    path = synthesize(
        out, basins=basins, years=years, seed=seed, gap_fraction=gaps, overwrite=overwrite
    )
    err.print(f"wrote {path} ({basins} basins x {years} years)", markup=False)


@app.command()
def rechunk(
    store: Annotated[str, typer.Argument(help="Path of a Zarr store.")],
    out: Annotated[
        str | None, typer.Option("--out", help="Write a new store here instead of in place.")
    ] = None,
) -> None:
    """Rewrite a store made by an older version in today's chunks (16 basins x 4 years)."""
    from regional_lstm.data.rechunk import rechunk_store

    err.print(f"wrote {rechunk_store(store, out)}", markup=False)


@app.command()
def summarize(
    store: Annotated[str, typer.Argument(help="Path of a Zarr store.")],
) -> None:
    """Add the yearly summary that planning reads instead of the values (older stores)."""
    from regional_lstm.data.rechunk import write_summary

    err.print(f"wrote the summary of {write_summary(store)}", markup=False)


@app.command()
def inspect(
    store: Annotated[str, typer.Argument(help=STORE_AT)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a store's basins, period, variables (units, missing data) and attributes."""
    from regional_lstm.data.inspect import summarize_store

    summary = summarize_store(store)
    if as_json:
        print(json.dumps(summary))
        return
    print_store(out, summary)


@app.command()
def check(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with SYMFLUENCE LSTM_* keys.")],
) -> None:
    """Validate an experiment config and print it resolved (defaults filled, paths absolute)."""
    import yaml

    from regional_lstm.config import load_config

    loaded = load_config(config)
    print(yaml.safe_dump(loaded.to_yaml_dict(), sort_keys=False), end="")
    if loaded.is_search():
        keys = ", ".join(loaded.search_space())
        err.print(f"search space over {keys}: use it with 'regional-lstm tune'", markup=False)
    err.print(
        f"train {loaded.train_period}, early stopping {loaded.early_stopping_period}, "
        f"evaluation {loaded.VALIDATION_PERIOD}",
        markup=False,
    )


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with SYMFLUENCE LSTM_* keys.")],
    restart: Annotated[bool, typer.Option(help="Discard a previous run in PROJECT_DIR.")] = False,
) -> None:
    """Train a regional LSTM on Ray workers, keep the best model, evaluate every basin."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.train import train as train_workflow

    train_workflow(load_config(config), restart=restart)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with SYMFLUENCE LSTM_* keys.")],
    restart: Annotated[bool, typer.Option(help="Discard a previous run in PROJECT_DIR.")] = False,
) -> None:
    """Run the workflow a config describes: build the store if missing, train, evaluate."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.run import run as run_workflow

    run_workflow(load_config(config), restart=restart)


@app.command()
def tune(
    config: Annotated[
        Path, typer.Argument(help="Experiment YAML whose list-valued keys to search.")
    ],
    resume: Annotated[bool, typer.Option(help="Continue an interrupted sweep.")] = False,
) -> None:
    """Hyperparameter search (RandomSearch or GridSearch) on Ray Tune, tracked in MLflow."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.tune import tune as tune_workflow

    tune_workflow(load_config(config), resume=resume)


@app.command()
def evaluate(
    project_dir: Annotated[Path, typer.Argument(help="PROJECT_DIR of a trained model.")],
    period: Annotated[
        str | None,
        typer.Option(help="Evaluation period, e.g. '2005,2010' or '2005-10-01,2010-09-30'."),
    ] = None,
    plots: Annotated[bool, typer.Option(help="Write hydrographs and the NSE CDF.")] = True,
    mc_dropout: Annotated[
        int | None,
        typer.Option(
            "--mc-dropout",
            min=0,
            help="Stochastic passes with dropout on: adds a 5-95 % band, coverage and CRPS "
            "(default LSTM_MC_DROPOUT_PASSES).",
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="exact: one LSTM_LOOKBACK window per day; stateful: one pass per basin with "
            "the state carried day to day (much faster); both: exact results plus each basin's "
            "NSE difference to stateful (default EVALUATION_MODE).",
        ),
    ] = None,
    withhold_readings: Annotated[bool, typer.Option(help=WITHHOLD)] = False,
) -> None:
    """Re-evaluate a saved model (VALIDATION_PERIOD unless --period) and rewrite results/."""
    from regional_lstm.workflows.evaluate import evaluate_tracked

    options = {"plots": plots, "mc_dropout": mc_dropout, "mode": mode}
    evaluate_tracked(project_dir, period=period, withhold_readings=withhold_readings, **options)


@app.command()
def transfer(
    config: Annotated[
        Path, typer.Argument(help="YAML naming the donor (LSTM_PRETRAINED_MODEL) and targets.")
    ],
) -> None:
    """Predict basins never trained on with a donor model; fine-tune with LSTM_FINETUNE."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.transfer import transfer as transfer_workflow

    transfer_workflow(load_config(config))


@app.command()
def ensemble(
    config: Annotated[
        Path, typer.Argument(help="Experiment YAML; LSTM_ENSEMBLE_SIZE or LSTM_ENSEMBLE_SEEDS.")
    ],
) -> None:
    """Train members differing only by seed; predict their mean with a 5-95 % band."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.ensemble import ensemble as ensemble_workflow

    ensemble_workflow(load_config(config))


@app.command()
def pub(
    config: Annotated[Path, typer.Argument(help="Experiment YAML; its basins are split.")],
    folds: Annotated[
        int | None, typer.Option(min=2, help="Number of folds K (default PUB_FOLDS).")
    ] = None,
) -> None:
    """Prediction in ungauged basins: K-fold cross-validation over basins, vs a gauged model."""
    from regional_lstm.config import load_config
    from regional_lstm.workflows.pub import pub as pub_workflow

    pub_workflow(load_config(config), folds=folds)


registry = typer.Typer(
    help="The MLflow model registry: mark donors and other aliases.", no_args_is_help=True
)
app.add_typer(registry, name="registry")
app.command()(cli_forecast.predict)
app.command()(cli_forecast.export)
app.command()(cli_models.simulate)
app.command()(cli_cluster.submit)
app.add_typer(cli_cluster.jobs, name="job")

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", help="PROJECT_DIR whose mlflow.db to use (default store)."),
]
UriOption = Annotated[
    str | None, typer.Option("--tracking-uri", help="MLflow tracking URI (server or sqlite).")
]


@registry.command("promote")
def registry_promote(
    name: Annotated[str, typer.Argument(help="Registered model name, e.g. camels_us-lstm.")],
    version: Annotated[str, typer.Argument(help="Version number to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to move to this version.")] = "donor",
    project: ProjectOption = None,
    tracking_uri: UriOption = None,
) -> None:
    """Point an alias (default: donor) at a registered model version."""
    from regional_lstm.tracking.models import promote
    from regional_lstm.tracking.store import resolve_tracking_uri

    promote(resolve_tracking_uri(project, tracking_uri), name, version, alias)
    err.print(f"{name} version {version} is now @{alias}", markup=False)


@app.command()
def compare(
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment (default: all).")
    ] = None,
    metric: Annotated[str, typer.Option(help="Rank by median KGE or NSE.")] = "KGE",
    top: Annotated[int | None, typer.Option(min=1, help="Keep the best N runs.")] = None,
    basins: Annotated[
        tuple[str, str] | None,
        typer.Option(help="Per-basin comparison of two runs: --basins RUN_A RUN_B."),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Also write the table as CSV to FILE; '-' prints only CSV."
        ),
    ] = None,
    project: ProjectOption = None,
    tracking_uri: UriOption = None,
) -> None:
    """Runs side by side (hyperparameters, median NSE/KGE, basins, duration), or per basin.

    On a terminal the table is drawn; piped or captured it is tab-separated, full width.
    """
    from regional_lstm.tracking.compare import compare_basins, compare_runs
    from regional_lstm.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(project, tracking_uri)
    if basins:
        table = compare_basins(uri, *basins)
    else:
        table = compare_runs(uri, experiment=experiment, metric=metric, top=top)
    if csv == Path("-"):
        print(table.to_csv(index=False), end="")
        return
    if csv is not None:
        from regional_lstm.atomic import write_text

        write_text(csv, table.to_csv(index=False))
    if not out.is_terminal:
        print(table.map(_cell).to_csv(sep="\t", index=False), end="")
        return
    shown = Table(*map(str, table.columns))
    for row in table.itertuples(index=False):
        shown.add_row(*(_cell(v) for v in row))
    out.print(shown)


def _cell(value: object) -> str:
    """A table cell: floats to three decimals, missing values (None, NaN, NA) empty."""
    import pandas as pd

    if pd.isna(value):
        return ""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


# Writes the machine refused: the user frees space or picks another folder; the writers that
# failed left the previous files whole (regional_lstm.atomic).
STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def main() -> None:
    """Entry point: user errors become one line on stderr, no traceback.

    Exit codes: 1 for bad data or configs, 2 for bad command-line usage, 130 on Ctrl-C.
    """
    from regional_lstm.allocator import keep_freed_memory
    from regional_lstm.logs import configure

    configure()
    keep_freed_memory()  # the driver predicts in its main thread: reuse, not re-fault, memory
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:
        # Typer exports no class for "a group called without a command"; like typer's own
        # rich_utils, know it by name. Its message is the help text, shown as is.
        message = error.format_message()
        if type(error).__name__ != "NoArgsIsHelpError":
            context = getattr(error, "ctx", None)
            where = f" (see '{context.command_path} --help')" if context else ""
            message = f"error: {' '.join(message.split())}{where}"
        err.print(message, markup=False, highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except RegionalLSTMError as error:
        message = redact_passwords(f"error: {error}")
        err.print(message, markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except OSError as error:
        if error.errno not in STORAGE_ERRORS:  # a bug or a lost connection: the traceback helps
            raise
        where = f"{error.filename}: " if error.filename else ""
        err.print(f"error: {where}{error.strerror}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
