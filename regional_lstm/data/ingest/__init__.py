"""Ingest adapters: one per source format, all writing the same store schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from regional_lstm.data.ingest.common import read_basin_list
from regional_lstm.data.store import BasinSource, write_store
from regional_lstm.errors import IngestError

KINDS = ("camels-us", "camels-ch", "caravan", "csv")


def open_source(
    kind: str,
    source_dir: str | Path,
    *,
    basins_file: str | Path | None = None,
    forcing: str | None = None,
    mapping: str | Path | None = None,
) -> BasinSource:
    """Build the adapter for ``kind`` over ``source_dir``; options apply to some kinds only."""
    source_dir = Path(source_dir).resolve()
    wanted = read_basin_list(basins_file) if basins_file is not None else None
    if forcing is not None and kind != "camels-us":
        raise IngestError(f"--forcing applies to camels-us only, not {kind}")
    if mapping is not None and kind != "csv":
        raise IngestError(f"--mapping applies to csv only, not {kind}")
    if kind == "camels-us":
        from regional_lstm.data.ingest.camels_us import CamelsUS

        return CamelsUS(source_dir, forcing or "daymet", wanted)
    if kind == "camels-ch":
        from regional_lstm.data.ingest.camels_ch import CamelsCH

        return CamelsCH(source_dir, wanted)
    if kind == "caravan":
        from regional_lstm.data.ingest.caravan import Caravan

        return Caravan(source_dir, wanted)
    if kind == "csv":
        from regional_lstm.data.ingest.csv_mapping import CsvSource, load_mapping

        if mapping is None:
            raise IngestError("csv ingest needs --mapping FILE (see datasets/*.yaml for examples)")
        return CsvSource(source_dir, load_mapping(mapping), wanted)
    raise IngestError(f"unknown ingest kind {kind!r} (choose from {', '.join(KINDS)})")


def ingest(
    kind: str,
    source_dir: str | Path,
    out: str | Path,
    *,
    basins_file: str | Path | None = None,
    forcing: str | None = None,
    mapping: str | Path | None = None,
    overwrite: bool = False,
    on_basin: Callable[[str], None] | None = None,
) -> Path:
    """Ingest one dataset into a new Zarr store at ``out`` and return its path."""
    source = open_source(
        kind, source_dir, basins_file=basins_file, forcing=forcing, mapping=mapping
    )
    return write_store(source, out, overwrite=overwrite, on_basin=on_basin)
