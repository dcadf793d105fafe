"""Unit conversions: the numbers of the documented conversions, round trips, one-line errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from regional_lstm.units import UnitError, convert, needs_area, parse

CFS_IN_M3S = 0.028316846592  # (12 * 0.0254 m) ** 3


@pytest.mark.parametrize(
    ("from_units", "to_units", "value", "expected"),
    [
        ("h", "s", 1.0, 3600.0),
        ("min", "s", 1.0, 60.0),
        ("degF", "degC", 212.0, 100.0),
        ("degF", "degC", 32.0, 0.0),
        ("K", "degC", 273.15, 0.0),
        ("in", "mm", 1.0, 25.4),
        ("cm/day", "mm/day", 1.0, 10.0),
        ("m/day", "mm/day", 1.0, 1000.0),
        ("mm/h", "mm/day", 1.0, 24.0),
        ("kg/m2/s", "mm/day", 1.0, 86400.0),
        ("MJ/m2/day", "W/m2", 1.0, 1e6 / 86400.0),
        ("kPa", "Pa", 1.0, 1000.0),
        ("hPa", "Pa", 1.0, 100.0),
        ("m2", "km2", 1.0, 1e-6),
        ("ha", "km2", 1.0, 0.01),
        ("mi2", "km2", 1.0, 2.589988110336),
        ("cfs", "m3/s", 1.0, CFS_IN_M3S),
        ("ft3/s", "m3/s", 1.0, CFS_IN_M3S),
    ],
)
def test_documented_conversions_give_their_numbers(from_units, to_units, value, expected):
    assert convert(value, from_units, to_units) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_cfs_to_mm_per_day_over_the_basin_area():
    area_km2 = 587.675987
    q_m3s = convert(255.0, "cfs", "m3/s")
    q_mm_per_day = convert(q_m3s, "m3/s", "mm/day", area_km2=area_km2)
    expected = 255.0 * CFS_IN_M3S * 86400 / (area_km2 * 1e6) * 1000
    assert q_mm_per_day == pytest.approx(expected, rel=1e-12)
    assert convert(255.0, "cfs", "mm/day", area_km2=area_km2) == pytest.approx(expected, rel=1e-12)


def test_one_m3s_over_one_km2_is_86_4_mm_per_day():
    assert convert(1.0, "m3/s", "mm/day", area_km2=1.0) == pytest.approx(86.4)
    assert convert(86.4, "mm/day", "m3/s", area_km2=1.0) == pytest.approx(1.0)


def test_pandas_values_keep_their_index():
    q = pd.Series([1.0, np.nan, 3.0], index=pd.date_range("2000-01-01", periods=3), name="q")
    converted = convert(q, "mm/day", "m3/s", area_km2=86.4)
    assert isinstance(converted, pd.Series)
    pd.testing.assert_index_equal(converted.index, q.index)
    assert converted.iloc[0] == pytest.approx(1.0)
    assert np.isnan(converted.iloc[1])


def test_identical_strings_need_no_conversion_even_if_no_unit():
    assert convert(2.0, "ISO date", "ISO date") == 2.0


def test_flow_volume_to_depth_needs_the_area():
    assert needs_area("m3/s", "mm/day")
    assert needs_area("mm/day", "cfs")
    assert not needs_area("in/day", "mm/day")
    with pytest.raises(UnitError, match="needs the basin area"):
        convert(1.0, "m3/s", "mm/day")


@pytest.mark.parametrize(
    ("from_units", "to_units", "unit"),
    [("furlong/fortnight", "mm/day", "furlong"), ("mm/day", "unknown", "unknown")],
)
def test_unknown_unit_is_a_one_line_error_naming_it(from_units, to_units, unit):
    with pytest.raises(UnitError) as raised:
        convert(1.0, from_units, to_units)
    message = str(raised.value)
    assert "\n" not in message
    assert f"no conversion from {from_units!r} to {to_units!r}" in message
    assert f"unknown unit {unit!r}" in message


def test_units_of_different_quantities_do_not_convert():
    with pytest.raises(UnitError, match=r"no conversion from 'degC' to 'mm/day' \(\[temperature\]"):
        convert(1.0, "degC", "mm/day")


def test_parse_reads_cf_powers_and_refuses_numbers():
    assert parse("W m-2") == parse("W/m2")
    with pytest.raises(UnitError, match=r"'0\.1 degC' is not a unit expression"):
        parse("0.1 degC")


PAIRS = [
    ("degC", "degF", None),
    ("K", "degC", None),
    ("mm/day", "in/h", None),
    ("km2", "mi2", None),
    ("MJ/m2/day", "W/m2", None),
    ("kg/m2/s", "mm/day", None),
    ("cfs", "mm/day", 587.7),
    ("mm/day", "m3/s", 12.5),
]


@given(
    value=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    pair=st.sampled_from(PAIRS),
)
def test_converting_there_and_back_gives_the_value(value, pair):
    from_units, to_units, area_km2 = pair
    there = convert(value, from_units, to_units, area_km2=area_km2)
    back = convert(there, to_units, from_units, area_km2=area_km2)
    assert back == pytest.approx(value, rel=1e-12, abs=1e-9)
