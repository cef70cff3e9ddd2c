"""The decision core: selection, weighting, caps, rebalance rules and the per-cycle record."""

import json
from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest import BookConfig, CostModel, MarketPanel, run_panel_backtest
from quant_engine.oms.targets import latest_target_portfolio
from quant_engine.portfolio import (
    BookState,
    ConstructionConfig,
    CycleState,
    DecisionCore,
    target_weights,
)


def test_top_k_long_only_and_dollar_neutral_long_short():
    scores = np.array([3.0, 1.0, 2.0, -1.0, np.nan])
    eligible = np.isfinite(scores)
    lo = target_weights(scores, eligible, ConstructionConfig(mode="long_only", top_k=2))
    np.testing.assert_allclose(lo, [0.5, 0.0, 0.5, 0.0, 0.0])
    ls = target_weights(scores, eligible, ConstructionConfig(mode="long_short", top_k=2))
    np.testing.assert_allclose(ls, [0.25, -0.25, 0.25, -0.25, 0.0])
    matrix = target_weights(
        np.vstack([scores, scores]),
        np.vstack([eligible] * 2),
        ConstructionConfig(mode="long_short", top_k=2),
    )
    np.testing.assert_allclose(matrix, [ls, ls])  # one cycle or many, the same rule


def test_max_weight_caps_and_threshold_filters():
    scores = np.array([0.9, 0.05, -0.3])
    cfg = ConstructionConfig(mode="long_only", top_k=3, threshold=0.1, max_weight=0.4)
    weights = target_weights(scores, np.ones(3, bool), cfg)
    np.testing.assert_allclose(weights, [0.4, 0.0, 0.0])  # one name selected, capped at 40%


def test_per_symbol_sleeves_follow_the_sign_of_the_score():
    cfg = ConstructionConfig(mode="long_short", allocation="per_symbol", threshold=0.5)
    weights = target_weights(np.array([1.0, 0.2, -0.7, np.nan]), np.ones(4, bool), cfg)
    np.testing.assert_allclose(weights, [1.0, 0.0, -1.0, 0.0])


def rebalance_weights(target, held, equity, cfg, adv=None, cost_rate=0.0):
    """The planner's weights for a book holding ``held`` (weights of ``equity``) at price 1."""
    sleeves = np.asarray(equity, dtype=float) if np.ndim(equity) else None
    shares = held * equity
    book = BookState(shares, 0.0 if sleeves is not None else equity - shares.sum(), sleeves)
    plan = DecisionCore(cfg).plan(target, book, np.ones(len(target)), adv, cost_rate)
    return plan.rebalance


def test_dust_is_closed_and_small_trades_are_skipped():
    cfg = ConstructionConfig(mode="long_only", dust_weight=0.01, min_trade_value=500.0)
    held = np.array([0.30, 0.20, 0.004])
    target = np.array([0.302, 0.40, 0.004])
    out = rebalance_weights(target, held, 100_000.0, cfg)
    # +0.2% of 100k = 200 < 500: skipped; the 0.4% position is dust: closed.
    np.testing.assert_allclose(out.weights, [0.30, 0.40, 0.0])
    assert out.skipped_trades == 1


def test_size_risk_limits_positions_to_a_share_of_volume():
    cfg = ConstructionConfig(mode="long_only", max_volume_share=0.01)
    adv = np.array([1e6, 1e9])
    out = rebalance_weights(np.array([0.5, 0.5]), np.zeros(2), 1e6, cfg, adv)
    np.testing.assert_allclose(out.weights, [0.01, 0.5])  # 1% of 1M ADV = 10k = 1% of equity
    assert out.size_risk_discarded_value == pytest.approx(490_000.0)


def test_per_symbol_sleeves_hold_their_side_and_reserve_costs_on_entry():
    cfg = ConstructionConfig(mode="long_only", allocation="per_symbol")
    held = np.array([0.97, 0.0, 0.5])
    out = rebalance_weights(
        np.array([1.0, 1.0, 0.0]), held, np.array([1e3, 1e3, 1e3]), cfg, cost_rate=0.001
    )
    np.testing.assert_allclose(out.weights, [0.97, 1 / 1.001, 0.0])


def test_sells_come_before_buys():
    book = BookState(np.array([0.0, 1.0, 0.0, 0.0, 3.0]), 6.0)  # equity 10 at price 1
    plan = DecisionCore(ConstructionConfig(mode="long_only")).plan(
        np.array([0.5, 0.0, 0.0, 0.2, 0.0]), book, np.ones(5)
    )
    np.testing.assert_allclose(plan.trades, [5.0, -1.0, 0.0, 2.0, -3.0])
    assert plan.order.tolist() == [1, 4, 0, 3]


def test_decide_plans_share_trades_and_records_a_json_cycle():
    core = DecisionCore(ConstructionConfig(mode="long_only", top_k=1, min_trade_value=1.0))
    book = BookState(shares=np.array([10.0, 0.0]), cash=0.0)
    prices = np.array([100.0, 50.0])
    plan, state = core.decide(
        "2024-01-02", ["AAA", "BBB"], np.array([0.1, 0.9]), np.ones(2, bool), book, prices
    )
    np.testing.assert_allclose(plan.target_shares, [0.0, 20.0])
    assert plan.order.tolist() == [0, 1]  # sell AAA, then buy BBB
    assert [t.symbol for t in state.trades] == ["AAA", "BBB"]
    assert state.investable_equity == 1000.0 and state.final_weights == {"BBB": 1.0}
    again = CycleState.from_json(state.to_json())
    assert again == state


def test_a_cycle_with_a_nan_value_is_strict_json_with_null():
    state = CycleState("2024-01-02", {"AAA": float("nan")}, {}, {}, 1e3, 1e3, 0.0, float("nan"), 0)
    text = state.to_json()
    assert "NaN" not in text
    loaded = json.loads(text)
    assert loaded["raw_signals"]["AAA"] is None and loaded["max_position_adjust"] is None


def test_names_without_a_price_keep_their_shares():
    core = DecisionCore(ConstructionConfig(mode="long_only", top_k=2))
    book = BookState(shares=np.array([10.0, 5.0]), cash=100.0)
    plan = core.plan(
        np.array([0.5, 0.5]), book, np.array([np.nan, 20.0]), marks=np.array([10.0, 20.0])
    )
    assert plan.target_shares[0] == 10.0  # cannot trade without a price
    assert plan.target_shares[1] == pytest.approx(0.5 * 300.0 / 20.0)


def test_too_few_valid_scores_make_no_targets_and_the_run_says_why(caplog):
    scores = np.full(20, np.nan)
    scores[7] = 1.5  # 19 of 20 scores NaN
    cfg = ConstructionConfig(mode="long_only", top_k=10)
    assert not target_weights(scores, np.isfinite(scores), cfg).any()
    enough = np.where(np.arange(20) < 5, np.arange(20.0), np.nan)
    np.testing.assert_allclose(target_weights(enough, np.isfinite(enough), cfg).sum(), 1.0)
    strict = ConstructionConfig(mode="long_only", top_k=10, min_valid_scores=6)
    assert not target_weights(enough, np.isfinite(enough), strict).any()
    with pytest.raises(ValueError, match="min_valid_scores"):
        ConstructionConfig(min_valid_scores=0)
    # the live targets: one name with a score must not take the whole account
    day = [datetime(2024, 1, 2, tzinfo=UTC)] * 20
    symbols = [f"S{i:02d}" for i in range(20)]
    signals = pl.DataFrame({"timestamp": day, "symbol": symbols, "score": scores})
    bars = pl.DataFrame({"timestamp": day, "symbol": symbols, "close": np.full(20, 10.0)})
    with pytest.raises(ValueError, match=r"only 1 symbol\(s\) .* fewer than the 5 needed"):
        latest_target_portfolio(signals, bars, cfg)
    # a backtest whose scores are mostly missing trades nothing on those days, and says so
    n_days = 30
    prices = np.full((n_days, 20), 10.0)
    panel = MarketPanel(list(range(n_days)), symbols, prices, prices * 0, prices * 0, prices)
    matrix = np.tile(scores, (n_days, 1))
    with caplog.at_level("WARNING"):
        result = run_panel_backtest(
            panel,
            matrix,
            BookConfig(costs=CostModel(0, 0, 0), portfolio=ConstructionConfig(mode="long_only")),
        )
    assert not result.trades.any()
    assert "fewer than 5 valid scores (min_valid_scores)" in caplog.text


def test_the_planner_sizes_on_the_cash_buffer_rounds_to_lots_and_skips_small_notionals():
    core = DecisionCore(ConstructionConfig(cash_buffer=0.1))
    book = BookState(np.array([0.0, 10.0, 3.0]), cash=9_000.0)  # + 1,000 + 60 = 10,060
    prices = np.array([7.0, 100.0, 20.0])
    plan = core.plan(
        np.array([0.5, 0.1, 0.0]),
        book,
        prices,
        lots=np.array([5.0, 1.0, 1.0]),
        min_notional=np.array([0.0, 100.0, 100.0]),
    )
    assert plan.equity == pytest.approx(10_060 * 0.9)
    # A: 0.5 x 9,054 / 7 = 646.7 -> 645 (lots of 5); B: 9.05 -> 9, a sale of 100 is not below
    # the minimum; C: closing 3 x 20 = 60 is below it, so C stays.
    np.testing.assert_allclose(plan.target_shares, [645.0, 9.0, 3.0])
    assert plan.rebalance.skipped_trades == 1
    assert list(plan.order) == [1, 0]  # sells first
    unruled = core.plan(np.array([0.5, 0.1, 0.0]), book, prices)
    np.testing.assert_allclose(unruled.target_shares, [0.5 * 9054 / 7, 9.054, 0.0])
