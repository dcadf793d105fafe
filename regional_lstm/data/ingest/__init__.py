"""Ingest adapters: one per source format (`INGEST_ADAPTERS`), all writing the same store schema."""

from __future__ import annotations

import inspect
from pathlib import Path

from regional_lstm.data.ingest.common import read_basin_list
from regional_lstm.data.store import BasinSource, write_store
from regional_lstm.errors import IngestError
from regional_lstm.locations import Location
from regional_lstm.registry import INGEST_ADAPTERS


def open_source(
    kind: str,
    source_dir: str | Path,
    *,
    basins_file: str | Path | None = None,
    forcing: str | None = None,
    mapping: str | Path | None = None,
) -> BasinSource:
    """Build the adapter for ``kind`` over ``source_dir``; options apply to some kinds only."""
    if kind not in INGEST_ADAPTERS:
        raise IngestError(INGEST_ADAPTERS.unknown(kind))
    given = {"forcing": forcing, "mapping": mapping}
    options = {name: value for name, value in given.items() if value is not None}
    for option in options:
        if not _takes(kind, option):
            takers = " and ".join(other for other in INGEST_ADAPTERS if _takes(other, option))
            raise IngestError(f"--{option} applies to {takers} only, not {kind}")
    wanted = read_basin_list(basins_file) if basins_file is not None else None
    adapter = INGEST_ADAPTERS[kind]
    return adapter(source_path=Path(source_dir).resolve(), wanted=wanted, **options)


def _takes(kind: str, option: str) -> bool:
    """Whether the adapter registered as ``kind`` has the keyword ``option``."""
    return option in inspect.signature(INGEST_ADAPTERS[kind]).parameters


def ingest(
    kind: str,
    source_dir: str | Path,
    out: str | Path | Location,
    *,
    basins_file: str | Path | None = None,
    forcing: str | None = None,
    mapping: str | Path | None = None,
    overwrite: bool = False,
) -> Path | Location:
    """Ingest one dataset into a new Zarr store at ``out`` and return its path."""
    source = open_source(
        kind, source_dir, basins_file=basins_file, forcing=forcing, mapping=mapping
    )
    return write_store(source, out, overwrite=overwrite)
