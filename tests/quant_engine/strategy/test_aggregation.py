"""Signal aggregation: truth tables of each voter, and meta-labeling."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from quant_engine.strategy import AnyVote, MajorityVote, MetaLabeler, UnanimousVote, WeightedVote

NAN = math.nan


def combine(voter, rows: list[tuple[list[float], float]]) -> None:
    """Each row is (one signal per source, expected combined signal)."""
    votes = np.array([sources for sources, _ in rows]).T  # (sources, rows)
    np.testing.assert_allclose(voter.combine(votes), [expected for _, expected in rows])


def test_majority_vote_truth_table():
    combine(
        MajorityVote(),
        [
            ([1, 1, 0], 1.0),
            ([0.6, 0.8, -1], 0.7),  # 2 of 3 long: the mean of the agreeing strengths
            ([1, -1, 0], 0.0),  # tie
            ([1, 0, 0], 0.0),  # one of three is no majority
            ([-1, -0.5, -1], -2.5 / 3),
            ([NAN, 1, 1], 1.0),  # a missing signal is an abstention
            ([0, 0, 0], 0.0),
        ],
    )
    combine(MajorityVote(min_agreement=0.7), [([1, 1, 0], 0.0), ([1, 1, 1], 1.0)])


def test_weighted_vote_truth_table():
    combine(
        WeightedVote(weights=(2.0, 1.0, 1.0), threshold=0.3),
        [
            ([1, 0, 0], 0.5),
            ([1, -1, -1], 0.0),
            ([0, 1, 0], 0.0),  # 0.25 is under the threshold
            ([-1, -1, 0], -0.75),
            ([0.5, 1, 1], 0.75),
        ],
    )
    with pytest.raises(ValueError, match="3 weights for 2"):
        WeightedVote(weights=(1.0, 1.0, 1.0)).combine(np.zeros((2, 4)))


def test_unanimous_vote_truth_table():
    rows = [
        ([1, 1, 1], 1.0),
        ([1, 1, 0], 0.0),
        ([0.5, 0.7, 0.9], 0.7),
        ([-1, -1, -1], -1.0),
        ([1, -1, 1], 0.0),
    ]
    combine(UnanimousVote(), rows)
    combine(UnanimousVote(threshold=0.8), [([0.5, 0.7, 0.9], 0.0), ([0.8, 0.9, 1.0], 0.9)])


def test_any_vote_truth_table():
    combine(
        AnyVote(),
        [
            ([0, 0, 0], 0.0),
            ([0, 0.3, 0], 0.3),
            ([0.3, -0.8, 0], -0.8),  # the strongest call wins
            ([0.5, -0.5, 0], 0.0),  # equally strong opposite calls cancel
            ([0.5, 0.5, -0.2], 0.5),
        ],
    )


def test_voters_reject_out_of_range_signals():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        MajorityVote().combine(np.array([[2.0], [1.0]]))


def test_voters_combine_frame_columns():
    frame = pl.DataFrame({"fast": [1.0, -1.0, None], "slow": [1.0, 1.0, 1.0], "flow": [0, -1, 1]})
    out = MajorityVote().combine_columns(frame, ["fast", "slow", "flow"], output="vote")
    assert out["vote"].to_list() == [1.0, -1.0, 1.0]
    with pytest.raises(ValueError, match=r"lacks column\(s\) \[.nope.\]"):
        MajorityVote().combine_columns(frame, ["fast", "nope"])


def test_meta_labeling_gates_the_primary_direction_by_probability():
    labeler = MetaLabeler(threshold=0.5)
    gated = labeler.gate(np.array([1, -1, 1, 0, 1]), np.array([0.7, 0.9, 0.4, 0.9, NAN]))
    np.testing.assert_allclose(gated, [0.7, -0.9, 0.0, 0.0, 0.0])


def test_meta_labeling_reads_a_probability_column_or_calls_a_model():
    frame = pl.DataFrame(
        {"signal": [1.0, -1.0, 1.0], "meta_probability": [0.8, 0.3, 0.6], "vol": [0.1, 0.2, 0.5]}
    )
    by_column = MetaLabeler(threshold=0.55).apply(frame)
    assert by_column["signal"].to_list() == [0.8, 0.0, 0.6]
    calm = MetaLabeler(threshold=0.5, model=lambda f: (f["vol"] < 0.3).cast(float).to_numpy())
    assert calm.apply(frame, output="gated")["gated"].to_list() == [1.0, -1.0, 0.0]
    with pytest.raises(ValueError, match="'p_right'"):
        MetaLabeler(probability_column="p_right").apply(frame)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MetaLabeler().gate(np.array([1.0]), np.array([1.5]))
