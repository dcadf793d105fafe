"""RandomSearch tries different points: never the same combination twice in one sweep."""

from __future__ import annotations

import logging
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from regional_lstm.distributed.tune import distinct_points
from regional_lstm.workflows.tune import _random_points
from tests.conftest import tiny_config

SPACES = st.dictionaries(
    st.sampled_from(["LSTM_HIDDEN_SIZE", "LSTM_DROPOUT", "LSTM_LEARNING_RATE", "LSTM_NUM_LAYERS"]),
    st.lists(st.integers(1, 512), min_size=1, max_size=6),
    min_size=1,
)


@settings(max_examples=200, deadline=None)
@given(space=SPACES, count=st.integers(1, 50), seed=st.integers(0, 2**31))
def test_points_are_different_points_of_the_space(space, count, seed):
    points = distinct_points(space, count, seed)
    combinations = {tuple(point[key] for key in space) for point in points}
    size = math.prod(len(set(values)) for values in space.values())
    assert len(combinations) == len(points) == min(count, size)
    for point in points:
        assert all(point[key] in values for key, values in space.items())


def test_the_same_seed_draws_the_same_points_and_another_seed_others():
    space = {"LSTM_HIDDEN_SIZE": [8, 16, 32, 64, 128], "LSTM_DROPOUT": [0.0, 0.1, 0.2, 0.3]}
    assert distinct_points(space, 6, seed=1) == distinct_points(space, 6, seed=1)
    assert distinct_points(space, 6, seed=1) != distinct_points(space, 6, seed=2)


def test_a_space_smaller_than_the_iterations_is_tried_whole_and_said(tiny_store, tmp_path, caplog):
    config = tiny_config(
        tiny_store,
        tmp_path,
        LSTM_HIDDEN_SIZE=[8, 16],
        LSTM_DROPOUT=[0.0, 0.1],
        OPTIMIZATION_MAX_ITERATIONS=10,
    )
    with caplog.at_level(logging.WARNING, logger="regional_lstm"):
        points = _random_points(config, config.search_space())
    assert len(points) == 4
    assert "has 4 different points, fewer than OPTIMIZATION_MAX_ITERATIONS 10" in caplog.text
