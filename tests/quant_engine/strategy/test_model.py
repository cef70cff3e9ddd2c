"""The strategy-model protocol: decisions with reasons, checked at the context's time."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quant_engine.strategy import (
    Decisions,
    ExitRules,
    FixedFractionSizer,
    OrderIntent,
    SignalEntryRule,
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


class _TrendModel:
    """Long what rose over its last 10 bars, short what fell, with the reason."""

    def decide(self, ctx: StrategyContext) -> Decisions:
        weights = []
        for symbol in ctx.symbols:
            closes = ctx.closes(symbol)
            if closes.size < 10:
                weights.append(TargetWeight(symbol, 0.0, f"{closes.size} bars, need 10"))
                continue
            move = closes[-1] / closes[-10] - 1
            weights.append(TargetWeight(symbol, float(np.sign(move)), f"10-bar move {move:+.2%}"))
        return Decisions(ctx.timestamp, weights=tuple(weights))


def test_a_model_implements_the_protocol_with_reasons_and_sees_no_future():
    model = _TrendModel()
    assert isinstance(model, StrategyModel)
    decisions = run_model(model, StrategyContext(timestamp=at(29), bars=TREND))
    assert decisions.weight_map() == {"DOWN": -1.0, "NEW": 0.0, "UP": 1.0}
    assert decisions.reasons()["NEW"] == "5 bars, need 10" and decisions.gross_weight == 2.0
    past = run_model(model, StrategyContext(timestamp=at(12), bars=TREND))
    assert past.reasons()["UP"] == f"10-bar move {TREND['close'][12] / TREND['close'][3] - 1:+.2%}"


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
