"""Which store variables feed a conceptual model's physical inputs, and refusals in one line."""

from __future__ import annotations

import pytest

from regional_lstm.data.physical import physical_inputs
from regional_lstm.data.reader import StoreReader
from regional_lstm.errors import ConfigError


def test_usual_names_are_found_and_a_min_max_pair_gives_the_mean_temperature(tiny_store):
    found = physical_inputs(StoreReader(tiny_store), ("precipitation", "temperature", "pet"))
    assert found["precipitation"].variables == ("prcp",)
    assert found["temperature"].variables == ("tmin", "tmax")
    assert found["pet"].variables == ("pet",)
    assert (found["pet"].scale, found["pet"].offset) == (1.0, 0.0)


def test_without_pet_among_the_inputs_day_length_is_taken_in_hours(tiny_store):
    allowed = ["prcp", "tmin", "tmax", "dayl"]
    found = physical_inputs(StoreReader(tiny_store), ("precipitation", "pet"), allowed=allowed)
    assert "pet" not in found and found["day_length"].variables == ("dayl",)
    assert found["temperature"].variables == ("tmin", "tmax")  # Hamon's other input
    assert found["day_length"].scale == pytest.approx(1 / 3600)  # the store holds seconds


def test_named_variables_win_over_usual_names(tiny_store):
    found = physical_inputs(StoreReader(tiny_store), ("temperature",), {"temperature": "tmax"})
    assert found["temperature"].variables == ("tmax",)


@pytest.mark.parametrize(
    ("named", "allowed", "message"),
    [
        ({"rain": "prcp"}, None, "unknown role 'rain'"),
        ({"precipitation": "rainfall"}, None, "'rainfall' is not in the store"),
        ({}, ["tmin", "tmax", "pet"], "nothing in DYNAMIC_INPUTS gives precipitation"),
        ({"precipitation": "tmin"}, None, "precipitation from 'tmin'"),
    ],
    ids=["unknown-role", "absent-variable", "no-candidate", "wrong-units"],
)
def test_what_cannot_be_resolved_is_one_line_naming_the_role(tiny_store, named, allowed, message):
    with pytest.raises(ConfigError, match=message) as error:
        physical_inputs(StoreReader(tiny_store), ("precipitation",), named, allowed)
    assert "\n" not in str(error.value)
