"""Hostile YAML is refused quickly, in one short line naming the file and line, never expanded:
billion laughs, deep nesting, self-referring aliases, values Python cannot hold, Python tags."""

from __future__ import annotations

import time

import pytest

from regional_lstm.config import load_config
from regional_lstm.data.ingest.csv_mapping import load_mapping
from regional_lstm.errors import ConfigError, IngestError
from tests.conftest import ROOT, assert_one_line_error, run_cli

SHORT_LINE = 300  # characters: a message, never an expansion
BOMB_LINE = "line 6"  # lol4: the first anchor past 20,000 values once expanded (59,869)


def billion_laughs(levels: int = 9) -> str:
    """The classic bomb: each level an anchor repeating the one below nine times (9**levels)."""
    lines = ["DOMAIN_NAME: bomb", 'lol0: &lol0 ["lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 9) + "]")
    lines.append(f"STATIC_ATTRIBUTES: [{', '.join([f'*lol{levels - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "billion laughs": (billion_laughs(), "aliases expand to more than"),
    "nested lists": ("STATIC_ATTRIBUTES: " + "[" * 500 + "]" * 500 + "\n", "nested deeper"),
    "nested mappings": ("STORAGE_OPTIONS: " + "{a: " * 500 + "1" + "}" * 500, "nested deeper"),
    "alias chain": (
        "\n".join(f"k{i}: &k{i} [{f'*k{i - 1}' if i else 1}]" for i in range(80)),
        "aliases nest deeper",
    ),
    "self-referring alias": ("STATIC_ATTRIBUTES: &me [*me]\n", "refers to a value that contains"),
    "self-referring merge": ("STORAGE_OPTIONS: &me {<<: *me}\n", "refers to a value that contains"),
    "5000-digit integer": ("SEED: " + "7" * 5000 + "\n", "int value out of range"),
    "impossible date": ("CALIBRATION_PERIOD: [2010-13-01, 2011-01-01]\n", "out of range"),
    "python tag": ("SEED: !!python/object/apply:os.system [echo owned]\n", "not valid YAML"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_yaml_is_refused_fast_in_one_short_line(name, tmp_path):
    text, reason = HOSTILE[name]
    config = tmp_path / "config.yaml"
    config.write_text(text)
    started = time.process_time()  # CPU seconds: other processes on the machine do not count
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert time.process_time() - started < 1.0
    message = str(caught.value)
    assert message.startswith(f"{config}: ")
    assert " at line " in message and reason in message
    assert "\n" not in message and len(message) < SHORT_LINE


def test_check_refuses_a_billion_laughs_config_in_seconds(tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(billion_laughs())
    started = time.perf_counter()
    result = run_cli("check", config, cwd=ROOT)
    assert time.perf_counter() - started < 10  # the interpreter and imports, not the YAML
    assert result.returncode == 1
    assert_one_line_error(result, str(config), BOMB_LINE, "aliases expand to more than")
    assert len(result.stderr) < SHORT_LINE and result.stdout == ""


def test_a_csv_mapping_bomb_is_refused_naming_the_mapping(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(billion_laughs().replace("STATIC_ATTRIBUTES", "variables"))
    with pytest.raises(IngestError, match=rf"mapping\.yaml: YAML refused at {BOMB_LINE}"):
        load_mapping(mapping)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("DOMAIN_NAME: big\n" + "# padding\n" * 200_000)
    with pytest.raises(ConfigError, match=r"config\.yaml: 2000017 bytes is too large"):
        load_config(config)


def test_a_long_inline_basin_list_is_still_a_config(tmp_path):
    """Every Caravan basin (6,830) written inline stays well inside the limits."""
    ids = ", ".join(f"'camels_{i:05d}'" for i in range(7000))
    config = tmp_path / "config.yaml"
    example = (ROOT / "experiments" / "example_full.yaml").read_text()
    config.write_text(example.replace("\nBASINS: null", f"\nBASINS: [{ids}]"))
    assert len(load_config(config).basin_ids()) == 7000


def test_a_value_error_shows_a_short_form_of_a_huge_value(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("BASINS: [[" + ", ".join(["'01013500'"] * 5000) + "]]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "BASINS: expected basin ids as strings" in str(caught.value)
    assert len(str(caught.value)) < 2 * SHORT_LINE


def test_many_bad_values_are_summed_up_after_the_first_ten(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("STATIC_ATTRIBUTES: [" + ", ".join(["1"] * 5000) + "]\n")
    with pytest.raises(ConfigError, match=r"STATIC_ATTRIBUTES\[3\]: expected a string, got 1; "):
        load_config(config)
    with pytest.raises(ConfigError, match=r"; and 4\d\d\d more problems$"):
        load_config(config)
