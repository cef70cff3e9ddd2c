import numpy as np
import polars as pl
import pytest

from quant_engine.evaluation.promotion import decide_promotion
from quant_engine.features import add_forward_return_label


@pytest.fixture(scope="module")
def labelled(small_market):
    return add_forward_return_label(small_market.expected_returns, small_market.bars)


def _scores(labelled: pl.DataFrame, skill: float, seed: int) -> pl.DataFrame:
    """Scores with a chosen amount of the true expected return in them."""
    noise = np.random.default_rng(seed).standard_normal(labelled.height)
    truth = labelled["expected_return"].to_numpy()
    return labelled.select(
        "symbol", "timestamp", pl.Series("score", skill * truth / truth.std() + noise)
    )


def test_a_better_challenger_is_promoted_and_a_worse_one_is_not(labelled):
    strong, weak = _scores(labelled, 1.0, 1), _scores(labelled, 0.1, 2)
    up = decide_promotion(strong, weak, labelled, margin=0.005)
    assert up.promote and up.challenger_rank_ic > up.champion_rank_ic + 0.005
    assert up.window_days == 252 and "beats" in up.reason
    down = decide_promotion(weak, strong, labelled, margin=0.005)
    assert not down.promote and "does not beat" in down.reason


def test_equal_models_need_the_margin(labelled):
    same = _scores(labelled, 0.5, 3)
    assert not decide_promotion(same, same, labelled, margin=0.0).promote


def test_first_model_is_promoted_and_disjoint_windows_are_not_compared(labelled):
    scores = _scores(labelled, 0.5, 4)
    assert decide_promotion(scores, None, labelled).promote
    dates = labelled["timestamp"].unique().sort()
    early = scores.filter(pl.col("timestamp") < dates[300])
    late = scores.filter(pl.col("timestamp") >= dates[300])
    decision = decide_promotion(late, early, labelled)
    assert not decision.promote and "share no" in decision.reason


def test_the_window_is_the_last_common_days(labelled):
    scores = _scores(labelled, 0.5, 5)
    dates = labelled.drop_nulls("label")["timestamp"].unique().sort()
    decision = decide_promotion(scores, scores, labelled, window_days=30)
    assert decision.window_end == dates[-1] and decision.window_start == dates[-30]
