"""How the CLI shows a store to a person (`inspect` without --json)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from regional_lstm.logs import shortlist


def print_store(out: Console, summary: dict) -> None:
    """What `inspect` shows of a store (its `summarize_store` dict), as text and tables."""
    period = summary["period"]
    basins = summary["basins"]
    shown = ", ".join(basins[:10]) + (" ..." if len(basins) > 10 else "")
    out.print(f"[bold]{summary['store']}[/bold]")
    out.print(
        f"source: {summary['provenance'].get('source_kind')}  "
        f"ingested: {summary['provenance'].get('ingest_time')}"
    )
    out.print(f"basins: {summary['n_basins']} ({shown})")
    out.print(f"period: {period['start']} .. {period['end']} ({period['days']} days)")
    if not summary["planning_summary"]:
        out.print("no planning summary: 'regional-lstm summarize STORE' adds one", markup=False)
    table = Table(
        "variable",
        "units",
        "missing",
        "basins all missing",
        "long name",
        title="dynamic variables (basin, time)",
    )
    for var in summary["dynamic_variables"]:
        table.add_row(
            var["name"],
            var["units"],
            f"{100 * var['missing_fraction']:.1f} %",
            str(var["basins_all_missing"]),
            var["long_name"],
        )
    out.print(table)
    table = Table("attribute", "units", "kind", "missing", "long name", title="static attributes")
    for att in summary["static_attributes"]:
        table.add_row(att["name"], att["units"], att["kind"], str(att["missing"]), att["long_name"])
    out.print(table)
    for att in summary["static_attributes"]:
        for source, cells in att["unusable_values"].items():
            written = ", ".join(sorted(set(cells.values())))
            out.print(
                f"{att['name']}: {written} in {source} for {len(cells)} basin(s), stored as "
                f"missing: {', '.join(cells)}",
                markup=False,
            )
    incomplete = summary["basins_missing_attributes"]
    for basin, names in list(incomplete.items())[:10]:
        out.print(
            f"basin {basin} lacks {len(names)} attribute(s): {shortlist(names)}", markup=False
        )
    if len(incomplete) > 10:
        out.print(f"... and {len(incomplete) - 10} more basins with missing attributes")
