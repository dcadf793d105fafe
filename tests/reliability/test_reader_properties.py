"""Property: real source files, mutated (a column dropped, dates shuffled or repeated, cells
made non-numeric, empty or huge, the file re-encoded, truncated or emptied), are ingested into a
store `open_store` accepts, or refused with one IngestError line naming the source; no other
exception escapes. One property per adapter the CLI's ``ingest`` runs, each over a small subset
of the real files in ../shared/data (one basin, its first days, its attribute rows).

Examples run per property: `pytest --hypothesis-show-statistics` (the README table's counts).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from regional_lstm.data.ingest import ingest
from regional_lstm.data.store import dynamic_names, open_store, static_names
from regional_lstm.errors import RegionalLSTMError
from tests.conftest import ROOT, log_lines, shared_dataset

DAYS = 120  # data rows kept of each series: the files' real first days, cheap to ingest


def ingests(examples: int) -> settings:
    """Few examples: each ingests a store (0.3 s for the csv subset, 2-5 s for Caravan's 39
    series and 200 attributes, each a Zarr array)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ODD_CELLS = [
    "",
    "abc",
    "NaN",
    "n/a",
    "--",
    "inf",
    "-inf",
    "1e308",
    "1e400",
    "-3.5e38",
    "0x1F",
    "1,5",
    "１２",
    '"',
    "9" * 400,
    "2000-13-45",
    "\x00",
    "é",
]


@dataclass(frozen=True, repr=False)
class Subset:
    """Some real files of one dataset (relative path -> bytes) and how to ingest them."""

    kind: str
    basin: str
    files: dict[str, bytes]
    separators: dict[str, str]  # regex splitting a line of each mutable file into fields
    options: Callable[[Path], dict]  # ingest keyword arguments for a copy at that folder

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"<{self.kind} subset of basin {self.basin}>"


def head(file: Path, lines: int) -> bytes:
    return b"".join(file.read_bytes().splitlines(keepends=True)[:lines])


def rows_of(file: Path, header_lines: int, basin: str, columns: int | None = None) -> bytes:
    """A table's header lines (the last one naming the columns) and the row of one basin;
    with ``columns``, its first columns only: each attribute becomes a Zarr array, and 200 of
    them make one ingest take seconds."""
    lines = file.read_bytes().splitlines(keepends=True)
    rows = lines[:header_lines] + [r for r in lines[header_lines:] if r.startswith(basin.encode())]
    if columns is None:
        return b"".join(rows)
    comments, table = rows[: header_lines - 1], b"".join(rows[header_lines - 1 :])
    out = io.StringIO(newline="")
    cells = csv.reader(io.StringIO(table.decode("latin-1"), newline=""))
    csv.writer(out, lineterminator="\n").writerows(row[:columns] for row in cells)
    return b"".join(comments) + out.getvalue().encode("latin-1")


@pytest.fixture(scope="module")
def camels_us() -> Subset:
    root = shared_dataset("camels_us_neuralhydrology_testdata") / "camels_us"
    forcing = "basin_mean_forcing/daymet/01022500_lump_cida_forcing_leap.txt"
    flow = "usgs_streamflow/01022500_streamflow_qc.txt"
    files = {forcing: head(root / forcing, 4 + DAYS), flow: head(root / flow, DAYS)}
    separators = {forcing: r"\s+", flow: r"\s+"}
    for table in sorted((root / "camels_attributes_v2.0").glob("camels_*.txt")):
        name = f"camels_attributes_v2.0/{table.name}"
        files[name] = rows_of(table, 1, "01022500")
        separators[name] = ";"
    return Subset("camels-us", "01022500", files, separators, lambda _: {})


@pytest.fixture(scope="module")
def camels_ch() -> Subset:
    root = shared_dataset("camels_ch")
    series = "time_series/observation_based/CAMELS_CH_obs_based_2070.csv"
    files = {series: head(root / series, 1 + DAYS)}
    for table in sorted((root / "static_attributes").glob("CAMELS_CH_*.csv")):
        files[f"static_attributes/{table.name}"] = rows_of(table, 2, "2070", columns=12)
    return Subset("camels-ch", "2070", files, dict.fromkeys(files, ","), lambda _: {})


@pytest.fixture(scope="module")
def caravan() -> Subset:
    root = shared_dataset("caravan_samples")
    series = "timeseries/csv/camelsch/camelsch_4001.csv"
    files = {series: head(root / series, 1 + DAYS)}
    for table in sorted((root / "attributes" / "camelsch").glob("attributes_*.csv")):
        files[f"attributes/camelsch/{table.name}"] = rows_of(table, 1, "camelsch_4001", 12)
    return Subset("caravan", "camelsch_4001", files, dict.fromkeys(files, ","), lambda _: {})


@pytest.fixture(scope="module")
def holmes_csv() -> Subset:
    """The csv adapter over HOLMES (datasets/holmes.yaml), series and key,value attributes."""
    root = shared_dataset("holmes_hydro_pypi")
    files = {
        "Au_Saumon_Observations.csv": head(root / "Au_Saumon_Observations.csv", 1 + DAYS),
        "Au_Saumon_CemaNeigeInfo.csv": (root / "Au_Saumon_CemaNeigeInfo.csv").read_bytes(),
    }
    mapping = (ROOT / "datasets" / "holmes.yaml").read_text()
    mapping = mapping.replace("basins: [Au_Saumon, Baskatong]", "basins: [Au_Saumon]")

    def options(folder: Path) -> dict:
        (folder / "mapping.yaml").write_text(mapping)
        return {"mapping": folder / "mapping.yaml"}

    return Subset("csv", "Au_Saumon", files, dict.fromkeys(files, ","), options)


# --- mutations of one file's text (latin-1 keeps every byte) --------------------------------


def fields(line: str, separator: str) -> list[str]:
    """A line split into fields and the separators between them (even: field, odd: separator)."""
    return re.split(f"({separator})", line.rstrip("\r\n"))


def drop_column(lines: list[str], separator: str, column: int) -> list[str]:
    kept = []
    for line in lines:
        parts = fields(line, separator)
        if 2 * column < len(parts):
            del parts[2 * column : 2 * column + 2]
        kept.append("".join(parts) + "\n")
    return kept


def set_cell(lines: list[str], separator: str, row: int, column: int, cell: str) -> list[str]:
    if not lines:
        return lines
    row = row % len(lines)
    parts = fields(lines[row], separator)
    parts[2 * (column % ((len(parts) + 1) // 2))] = cell
    return [*lines[:row], "".join(parts) + "\n", *lines[row + 1 :]]


def shuffle_rows(lines: list[str], separator: str, seed: int, header: int) -> list[str]:
    rows = lines[header:]
    np.random.default_rng(seed).shuffle(rows)
    return lines[:header] + rows


def duplicate_row(lines: list[str], separator: str, row: int) -> list[str]:
    row = row % max(len(lines), 1)
    return lines[: row + 1] + lines[row : row + 1] + lines[row + 1 :]


def drop_rows(lines: list[str], separator: str, first: int, count: int) -> list[str]:
    return lines[:first] + lines[first + count :]


EDITS = st.one_of(
    st.tuples(st.just(drop_column), st.integers(0, 12)),
    st.tuples(
        st.just(set_cell),
        st.integers(0, DAYS),
        st.integers(0, 40),
        st.sampled_from(ODD_CELLS) | st.text(max_size=12),
    ),
    st.tuples(st.just(set_cell), st.integers(0, DAYS), st.integers(0, 40), st.just("1e39")),
    st.tuples(st.just(shuffle_rows), st.integers(0, 2**16), st.integers(0, 5)),
    st.tuples(st.just(duplicate_row), st.integers(0, DAYS)),
    st.tuples(st.just(drop_rows), st.integers(0, 6), st.integers(1, DAYS)),
)
ENCODINGS = st.sampled_from(["as is", "as is", "utf-16", "utf-8-sig", "latin-1 é", "cp1252 °"])


@st.composite
def mutations(draw, subset: Subset) -> tuple[str, bytes]:
    """One file of ``subset`` and its mutated bytes: a few edits, a re-encoding, a truncation,
    or nothing at all."""
    name = draw(st.sampled_from(sorted(subset.files)))
    if draw(st.integers(0, 9)) == 0:
        return name, b""
    lines = subset.files[name].decode("latin-1").splitlines(keepends=True)
    for edit, *args in draw(st.lists(EDITS, max_size=3)):
        lines = edit(lines, subset.separators.get(name, ","), *args)
    text = "".join(lines)
    encoding = draw(ENCODINGS)
    if encoding != "as is":
        codec, marker = encoding.split(" ") if " " in encoding else (encoding, "")
        text = text.replace("\n", f"{marker}\n", 1)
        data = text.encode(codec, errors="replace")
    else:
        data = text.encode("latin-1", errors="replace")
    if draw(st.booleans()) and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return name, data


def ingest_copy(subset: Subset, name: str, data: bytes) -> str | None:
    """Ingest a fresh copy of ``subset`` with ``name`` replaced by ``data``: the refusal's
    message (one line naming a file or folder of the copy), or None for a store that opens,
    holds the one basin and no infinity among its series."""
    folder = Path(tempfile.mkdtemp(prefix="mutated-"))
    try:
        source = folder / "source"
        for relative, content in subset.files.items():
            (source / relative).parent.mkdir(parents=True, exist_ok=True)
            (source / relative).write_bytes(data if relative == name else content)
        options = subset.options(folder)
        try:
            store = ingest(subset.kind, source, folder / "store.zarr", **options)
        except RegionalLSTMError as error:
            message = str(error)
            assert "\n" not in message and len(message) < 600, message
            assert str(folder) in message, f"names no file of the source: {message}"
            return message
        ds = open_store(store)
        assert list(ds["basin"].values) == [subset.basin]
        for variable in dynamic_names(ds):
            assert not np.isinf(ds[variable].values).any(), variable
        for attribute in static_names(ds):
            values = ds[attribute].values
            numeric = np.issubdtype(values.dtype, np.number)
            assert not numeric or not np.isinf(values).any(), attribute
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ingests_or_one_line(subset: Subset, name: str, data: bytes) -> None:
    """The property: `ingest_copy` returns (its checks passed), counted as refused or not."""
    event("ingested" if ingest_copy(subset, name, data) is None else "refused")


@ingests(6)
@given(data=st.data())
def test_mutated_camels_us_files_ingest_or_fail_in_one_line(camels_us, data):
    ingests_or_one_line(camels_us, *data.draw(mutations(camels_us)))


@ingests(4)
@given(data=st.data())
def test_mutated_camels_ch_files_ingest_or_fail_in_one_line(camels_ch, data):
    ingests_or_one_line(camels_ch, *data.draw(mutations(camels_ch)))


@ingests(3)
@given(data=st.data())
def test_mutated_caravan_files_ingest_or_fail_in_one_line(caravan, data):
    ingests_or_one_line(caravan, *data.draw(mutations(caravan)))


@ingests(20)
@given(data=st.data())
def test_mutated_csv_files_ingest_or_fail_in_one_line(holmes_csv, data):
    ingests_or_one_line(holmes_csv, *data.draw(mutations(holmes_csv)))


# --- what the properties found, fixed: each a plain test --------------------------------------

SERIES = {
    "camels_us": ("basin_mean_forcing/daymet/01022500_lump_cida_forcing_leap.txt", 7, 5),
    "camels_ch": ("time_series/observation_based/CAMELS_CH_obs_based_2070.csv", 4, 5),
    "caravan": ("timeseries/csv/camelsch/camelsch_4001.csv", 4, 5),
    "holmes_csv": ("Au_Saumon_Observations.csv", 4, 1),
}


@pytest.mark.parametrize("dataset", list(SERIES))
@pytest.mark.parametrize("cell", ["1e400", "-inf", "3.5e38"])
def test_a_value_beyond_float32_is_refused_naming_file_and_line(request, dataset, cell):
    """Was stored as an infinity (a store holds float32), to poison every loss it entered."""
    subset = request.getfixturevalue(dataset)
    name, row, column = SERIES[dataset]
    lines = subset.files[name].decode("latin-1").splitlines(keepends=True)
    mutated = "".join(set_cell(lines, subset.separators[name], row, column, cell))
    message = ingest_copy(subset, name, mutated.encode("latin-1"))
    assert (
        f"{name}: value " in message
        and f"on line {row + 1} is beyond what a store holds" in message
    )


def test_a_camels_us_forcing_header_area_of_zero_is_refused(camels_us):
    """Was a division by zero: streamflow in mm/day stored as infinity."""
    name = SERIES["camels_us"][0]
    lines = camels_us.files[name].decode("latin-1").splitlines(keepends=True)
    mutated = "".join([*lines[:2], "0\n", *lines[3:]]).encode("latin-1")
    message = ingest_copy(camels_us, name, mutated)
    assert f"{name}: line 3 should hold the basin area in m2" in message


@pytest.mark.parametrize("cell", ["inf", "-Inf", "1e400"])
def test_an_infinite_attribute_is_stored_as_missing_and_named(camels_us, cell, tmp_path):
    """Was stored as is (an infinite static input for every prediction of the basin), then
    refused, which stopped every CAMELS-CH experiment at its first step (real 'Inf' cells)."""
    name = "camels_attributes_v2.0/camels_topo.txt"
    header, row = camels_us.files[name].decode("latin-1").splitlines()
    cells = row.split(";")
    cells[header.split(";").index("elev_mean")] = cell
    source = tmp_path / "source"
    for relative, content in camels_us.files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_bytes(content)
    (source / name).write_text(f"{header}\n{';'.join(cells)}\n", encoding="latin-1")
    with log_lines() as lines:
        ds = open_store(ingest("camels-us", source, tmp_path / "store.zarr"))
    assert np.isnan(ds["elev_mean"].sel(basin="01022500").values)
    assert ds["elev_mean"].attrs["unusable_values"] == {"camels_topo.txt": {"01022500": cell}}
    assert not np.isnan(ds["slope_mean"].sel(basin="01022500").values)
    (warning,) = [line for line in lines if line.startswith("warning:")]
    assert f"camels_topo.txt elev_mean ({cell}) for 01022500" in warning
