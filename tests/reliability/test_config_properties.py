"""Property: any file handed to the config loader is a config or one ConfigError line naming
the file, never another exception. Random YAML values under real and invented keys, real
configs with keys replaced, dropped or added, and random text (YAML punctuation included).

Examples run per property: `pytest --hypothesis-show-statistics` (the README table's counts).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from regional_lstm.config import Config, load_config
from regional_lstm.errors import ConfigError
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "experiments").glob("*.yaml"))
LONGEST_MESSAGE = 4000  # ten problems of at most a couple of hundred characters each


def parse_only(examples: int) -> settings:
    """Many examples: each only writes and loads one small file (1-30 ms)."""
    return settings(
        max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.dates()
    | st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31))
    | st.binary(max_size=8)
    | st.sampled_from(["2000, 2007", "2000-01-01..2007-12-31", "1e-6", "s3://b/x", "models:/m@a"])
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)
keys = st.sampled_from(list(Config.model_fields)) | st.text(max_size=24)
yaml_text = st.text(alphabet="[]{}:,-?&*!|>'\"#%@` \n\t.aZ09_\\", max_size=200) | st.text()


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """One file each example overwrites (hypothesis reruns a test body, not its fixtures)."""
    return tmp_path_factory.mktemp("configs") / "config.yaml"


def loads_or_one_line(path: Path) -> None:
    """The property: a Config that `check` can print, or one ConfigError naming ``path``."""
    try:
        config = load_config(path)
    except ConfigError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), message
        assert "\n" not in message and len(message) < LONGEST_MESSAGE, message
        event("refused")
        return
    yaml.safe_dump(config.to_yaml_dict(), sort_keys=False)  # what `check` prints
    event("accepted")


@parse_only(150)
@given(document=st.dictionaries(keys, values, max_size=12))
# What the property found, fixed: a key with a newline printed a message on two lines; a key
# named like a tunable key's tag ('value') crashed the message; a year past 2**31 in a period
# was an OverflowError; 'value' inside DATA_SOURCE was reported as "unknown key 'DATA_SOURCE'".
@example(document={"\n": None})
@example(document={"value": None})
@example(document={"CALIBRATION_PERIOD": [2147483648, None]})
@example(document={"DATA_SOURCE": {"kind": "synthetic", "value": 1}})
def test_random_mappings_load_or_fail_in_one_line(config_file, document):
    config_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    loads_or_one_line(config_file)


@parse_only(150)
@given(
    example=st.sampled_from(EXAMPLES),
    replaced=st.dictionaries(keys, values, max_size=4),
    dropped=st.sets(st.sampled_from(list(Config.model_fields)), max_size=3),
)
# Found, fixed: STORAGE_OPTIONS took any value, and one YAML reads as bytes broke `check`.
@example(
    example=ROOT / "experiments" / "quickstart.yaml",
    replaced={"STORAGE_OPTIONS": {"": b"\x80"}},
    dropped=set(),
)
def test_real_configs_with_keys_replaced_load_or_fail_in_one_line(
    config_file, example, replaced, dropped
):
    document = yaml.safe_load(example.read_text())
    document = {k: v for k, v in document.items() if k not in dropped} | replaced
    config_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    loads_or_one_line(config_file)


@parse_only(600)
@given(text=yaml_text)
def test_random_text_loads_or_fails_in_one_line(config_file, text):
    config_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    loads_or_one_line(config_file)


@parse_only(600)
@given(raw=st.binary(max_size=200), encoding=st.sampled_from(["utf-16", "latin-1", "utf-8"]))
def test_random_bytes_and_other_encodings_load_or_fail_in_one_line(config_file, raw, encoding):
    example = (ROOT / "experiments" / "quickstart.yaml").read_text()
    config_file.write_bytes(example.encode(encoding, errors="replace") + raw)
    loads_or_one_line(config_file)


def test_a_key_named_like_a_tag_is_named_where_it_was_written(config_file):
    """'value' is the tag pydantic puts after a tunable key; a user's 'value' is a key."""
    config_file.write_text("DATA_SOURCE: {kind: synthetic, value: 1}\nvalue: 2\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'value' in DATA_SOURCE; unknown key 'value'"
    ):
        load_config(config_file)


def test_a_key_with_a_newline_is_shown_escaped_on_one_line(config_file):
    config_file.write_text('"LSTM_\\nEPOCHS": 3\n')
    with pytest.raises(ConfigError, match=r"unknown key 'LSTM_\\nEPOCHS'"):
        load_config(config_file)
