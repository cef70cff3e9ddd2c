"""The strategy-model protocol and the SMA crossover example."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quant_engine.strategy import (
    Decisions,
    ExitRules,
    FixedFractionSizer,
    Holding,
    OrderIntent,
    PriceDistanceFilter,
    SignalEntryRule,
    SmaCrossoverConfig,
    SmaCrossoverModel,
    StrategyContext,
    StrategyModel,
    TargetWeight,
    run_exits,
    run_model,
)
from tests.quant_engine.strategy.frames import at, bars_from_closes

TREND = bars_from_closes(
    {"UP": np.linspace(100, 130, 30), "DOWN": np.linspace(100, 70, 30), "NEW": [50.0] * 5}
)
SMALL = SmaCrossoverConfig(fast=3, slow=10)


def test_sma_crossover_implements_the_protocol_with_reasons():
    model = SmaCrossoverModel(SMALL)
    assert isinstance(model, StrategyModel)
    decisions = run_model(model, StrategyContext(timestamp=at(29), bars=TREND))
    assert decisions.weight_map() == {"DOWN": 0.0, "NEW": 0.0, "UP": 1.0}
    reasons = decisions.reasons()
    assert reasons["UP"].endswith("fast above slow") and reasons["UP"].startswith("SMA3 ")
    assert reasons["NEW"] == "5 bars, need 10"
    shorts = run_model(
        SmaCrossoverModel(SmaCrossoverConfig(fast=3, slow=10, allow_short=True, gross_exposure=2)),
        StrategyContext(timestamp=at(29), bars=TREND),
    )
    assert shorts.weight_map() == {"DOWN": -1.0, "NEW": 0.0, "UP": 1.0}
    assert shorts.gross_weight == 2.0


def test_entry_filters_gate_new_entries_but_not_held_positions():
    chase = PriceDistanceFilter(lookback=10, max_distance=0.01)
    model = SmaCrossoverModel(SMALL, entry_filter=chase)
    fresh = model.decide(StrategyContext(timestamp=at(29), bars=TREND))
    assert fresh.weight_map()["UP"] == 0.0
    assert "entry refused: long UP is" in fresh.reasons()["UP"]
    held = {"UP": Holding(quantity=5.0, average_price=110.0)}
    kept = model.decide(StrategyContext(timestamp=at(29), bars=TREND, holdings=held))
    assert kept.weight_map()["UP"] == 1.0


def test_sma_crossover_matches_rolling_means_and_ignores_the_future(small_market):
    bars = small_market.bars
    config = SmaCrossoverConfig(fast=10, slow=50)
    model = SmaCrossoverModel(config)
    dates = bars["timestamp"].unique().sort()
    when = dates[300]
    reference = (
        bars.sort("symbol", "timestamp")
        .with_columns(
            (
                pl.col("close").rolling_mean(10).over("symbol")
                > pl.col("close").rolling_mean(50).over("symbol")
            ).alias("long")
        )
        .filter(pl.col("timestamp") == when)
    )
    longs = sorted(reference.filter("long")["symbol"])
    decisions = run_model(model, StrategyContext(timestamp=when, bars=bars))
    assert sorted(s for s, w in decisions.weight_map().items() if w > 0) == longs
    assert decisions.gross_weight == pytest.approx(1.0)
    past_only = StrategyContext(timestamp=when, bars=bars.filter(pl.col("timestamp") <= when))
    assert model.decide(past_only) == decisions


def test_exit_prices_stay_within_reach_on_real_looking_bars(small_market):
    rules = ExitRules(stop_loss=0.03, take_profit=0.05, trailing_stop=0.04, max_bars=30)
    exits = 0
    for symbol, frame in small_market.bars.partition_by("symbol", as_dict=True).items():
        frame = frame.sort("timestamp")
        entry = frame.row(0, named=True)
        state = rules.open_position(symbol[0], 1, entry["close"], entry["timestamp"])
        _, event = run_exits(state, frame.slice(1, 100))
        assert event is not None  # 30 bars at most
        exits += 1
        hit = frame.filter(pl.col("timestamp") == event.timestamp).row(0, named=True)
        assert hit["low"] <= event.price <= hit["high"]
    assert exits == small_market.bars["symbol"].n_unique()


class _BreakoutOrders:
    """A model that decides in orders: buy what closed above its 10-bar high."""

    rule = SignalEntryRule(sizer=FixedFractionSizer(fraction=0.25))

    def decide(self, ctx: StrategyContext) -> Decisions:
        signals = {
            s: 1.0 if (c := ctx.closes(s)).size > 10 and c[-1] > c[-11:-1].max() else 0.0
            for s in ctx.symbols
        }
        return Decisions(ctx.timestamp, orders=self.rule.plan(ctx, signals).orders)


def test_a_model_may_decide_in_orders_with_reasons():
    ctx = StrategyContext(timestamp=at(29), bars=TREND, equity=1_000.0)
    decisions = run_model(_BreakoutOrders(), ctx)
    assert decisions.weights == ()
    (order,) = decisions.orders
    assert (order.symbol, order.quantity) == ("UP", pytest.approx(250.0 / 130.0))
    assert order.reason == "signal +1.000: FixedFractionSizer targets 250.00 notional"
    with pytest.raises(ValueError, match="quantity 0 must be non-zero"):
        OrderIntent("UP", 0, "nothing")


class _Broken:
    def __init__(self, decisions: Decisions) -> None:
        self.decisions = decisions

    def decide(self, ctx: StrategyContext) -> Decisions:
        return self.decisions


def test_run_model_refuses_unusable_decisions():
    ctx = StrategyContext(timestamp=at(29), bars=TREND)
    late = Decisions(timestamp=at(30), weights=(TargetWeight("UP", 1.0, "x"),))
    with pytest.raises(ValueError, match="decided for"):
        run_model(_Broken(late), ctx)
    ghost = Decisions(timestamp=at(29), weights=(TargetWeight("GHOST", 1.0, "x"),))
    with pytest.raises(ValueError, match=r"no bars: \['GHOST'\]"):
        run_model(_Broken(ghost), ctx)
    with pytest.raises(TypeError, match="returned dict"):
        run_model(_Broken({"UP": 1.0}), ctx)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two weights for UP"):
        Decisions(at(29), weights=(TargetWeight("UP", 1, "a"), TargetWeight("UP", 0, "b")))
