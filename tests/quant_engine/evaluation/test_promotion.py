import numpy as np
import polars as pl
import pytest

from quant_engine.evaluation.ic import daily_ic
from quant_engine.evaluation.promotion import (
    PromotionRule,
    decide_promotion,
    paired_one_sided_test,
)
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


def test_a_better_challenger_over_all_common_days_is_promoted_and_a_worse_one_is_not(labelled):
    strong, weak = _scores(labelled, 1.0, 1), _scores(labelled, 0.1, 2)
    up = decide_promotion(strong, weak, labelled)
    days = labelled.drop_nulls("label")["timestamp"].n_unique()
    assert up.promote and up.challenger_rank_ic > up.champion_rank_ic
    assert up.n_days == days and up.p_value < 0.05 and up.mean_difference > 0
    assert "beats" in up.reason and f"{days} common days" in up.reason
    down = decide_promotion(weak, strong, labelled)
    assert not down.promote and "does not beat" in down.reason and down.p_value > 0.5


def test_equal_models_are_not_promoted(labelled):
    same = _scores(labelled, 0.5, 3)
    decision = decide_promotion(same, same, labelled)
    assert not decision.promote and decision.mean_difference == 0


def test_better_only_in_the_last_months_is_not_enough(labelled):
    dates = labelled["timestamp"].unique().sort()
    recent = pl.col("timestamp") >= dates[-126]
    champion = _scores(labelled, 0.5, 6)
    challenger = (
        _scores(labelled, 0.05, 7)
        .join(_scores(labelled, 2.0, 8), on=["symbol", "timestamp"], suffix="_good")
        .select(
            "symbol",
            "timestamp",
            pl.when(recent).then("score_good").otherwise("score").alias("score"),
        )
    )
    decision = decide_promotion(challenger, champion, labelled)
    assert not decision.promote and decision.mean_difference < 0
    # ... although over the last six months alone the challenger is the better one by more than
    # the old rule's margin of 0.005 rank IC.
    late = decide_promotion(challenger.filter(recent), champion, labelled)
    assert late.challenger_rank_ic > late.champion_rank_ic + 0.005


def test_first_model_is_promoted_and_disjoint_windows_are_not_compared(labelled):
    scores = _scores(labelled, 0.5, 4)
    assert decide_promotion(scores, None, labelled).promote
    dates = labelled["timestamp"].unique().sort()
    early = scores.filter(pl.col("timestamp") < dates[300])
    late = scores.filter(pl.col("timestamp") >= dates[300])
    decision = decide_promotion(late, early, labelled)
    assert not decision.promote and not decision.comparable and "share 0" in decision.reason


def test_the_comparison_uses_every_common_labelled_day(labelled):
    challenger, champion = _scores(labelled, 0.6, 9), _scores(labelled, 0.5, 10)
    dates = labelled.drop_nulls("label")["timestamp"].unique().sort()
    decision = decide_promotion(
        challenger.filter(pl.col("timestamp") >= dates[100]), champion, labelled
    )
    assert decision.window_start == dates[100] and decision.window_end == dates[-1]
    assert decision.n_days == dates.len() - 100
    ours = daily_ic(
        challenger.join(labelled.select("symbol", "timestamp", "label"), on=["symbol", "timestamp"])
    )
    assert decision.challenger_rank_ic == pytest.approx(
        ours.filter(pl.col("timestamp") >= dates[100])["rank_ic"].mean()
    )


def test_overlapping_labels_widen_the_standard_error():
    rng = np.random.default_rng(0)
    # Differences that are sums of 5 neighbouring shocks, as labels of horizon 5 make them.
    shocks = rng.standard_normal(1005)
    differences = np.convolve(shocks, np.ones(5), "valid")[:1000] * 0.01 + 0.003
    _, p_plain = paired_one_sided_test(differences, lags=0)
    _, p_hac = paired_one_sided_test(differences, lags=4)
    assert p_hac > p_plain
    assert PromotionRule(horizon=5).statement.count("lags 4") == 1
