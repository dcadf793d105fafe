"""Shared fixtures: the real sample data beside the checkout, and small stores built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NH_CAMELS_US = SHARED_DATA / "camels_us_neuralhydrology_testdata" / "camels_us"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip only when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def camels_us_copy(shared_data: Path, tmp_path: Path) -> Path:
    """A writable copy of the 4-basin CAMELS-US tree (1.8 MB) to corrupt in bad-input tests."""
    return Path(shutil.copytree(NH_CAMELS_US, tmp_path / "camels_us"))


def write_basin_list(path: Path, basins: list[str]) -> Path:
    """Write a basin list file, one id per line."""
    path.write_text("\n".join(basins) + "\n")
    return path
