"""The signal entry rule: direction rules, filters and sizing composed into entry orders."""

from __future__ import annotations

import numpy as np
import pytest

from quant_engine.strategy import (
    FixedFractionSizer,
    Holding,
    MartingaleSizer,
    PriceDistanceFilter,
    RiskParitySizer,
    SignalEntryRule,
    StrategyContext,
    risk_contributions,
)
from tests.quant_engine.strategy.frames import at, bars_from_closes

BARS = bars_from_closes(
    {
        "A": np.linspace(80, 100, 20),
        "B": [50.0] * 20,
        "C": [25.0] * 20,
        "D": [10.0] * 20,
        "E": [10.0] * 20,
    }
)
HELD = {"B": Holding(10.0, 50.0, entries=2), "C": Holding(-5.0, 30.0)}
CTX = StrategyContext(timestamp=at(19), bars=BARS, holdings=HELD, cash=5_000.0, equity=10_000.0)
SIGNALS = {"A": 0.8, "B": 0.9, "C": 0.7, "D": -0.6, "E": 0.2, "F": 0.0}


def test_entry_rule_orders_new_entries_and_reversals_and_explains_the_rest():
    rule = SignalEntryRule(sizer=FixedFractionSizer(fraction=0.1), min_strength=0.5)
    plan = rule.plan(CTX, SIGNALS)
    orders = {o.symbol: o.quantity for o in plan.orders}
    assert orders == {"A": pytest.approx(10.0), "C": pytest.approx(40.0 + 5.0)}  # C reverses
    assert plan.rejected == {
        "B": "already long B",
        "D": "short entries are not allowed",
        "E": "signal +0.200 weaker than 0.500",
    }
    assert plan.orders[0].reason == "signal +0.800: FixedFractionSizer targets 1,000.00 notional"


def test_entry_filters_and_lots_apply_before_orders():
    chase = PriceDistanceFilter(lookback=20, max_distance=0.05)
    rule = SignalEntryRule(
        sizer=FixedFractionSizer(fraction=0.07), entry_filter=chase, allow_short=True, lot_size=5
    )
    plan = rule.plan(CTX, {"A": 1.0, "D": -1.0, "C": 0.5})
    assert plan.rejected["A"].startswith("long A is 11.11% past its 20-bar average")
    # D: 700 / 10 = 70 short; C: 700 / 25 = 28 -> 25 in lots of 5, plus the 5 short to cover.
    assert {o.symbol: o.quantity for o in plan.orders} == {"C": 30.0, "D": -70.0}
    tiny = SignalEntryRule(sizer=FixedFractionSizer(fraction=0.001), lot_size=5)
    assert tiny.plan(CTX, {"A": 1.0}).rejected == {"A": "FixedFractionSizer sized A to zero"}


def test_grid_entries_add_to_positions_with_martingale_sizes():
    grid = SignalEntryRule(
        sizer=MartingaleSizer(base_fraction=0.01, multiplier=2.0, max_levels=3, max_fraction=1),
        add_to_positions=True,
    )
    plan = grid.plan(CTX, {"A": 1.0, "B": 1.0})
    # A opens its first level (100 notional); B holds two levels, so its third is 400.
    assert {o.symbol: o.quantity for o in plan.orders} == {
        "A": pytest.approx(1.0),
        "B": pytest.approx(8.0),
    }


def test_equal_risk_sizing_uses_the_covariance_block_of_accepted_symbols():
    cov = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.02], [0.0, 0.02, 0.01]])  # A, B, E
    rule = SignalEntryRule(sizer=RiskParitySizer(method="equal_risk_contribution"))
    plan = rule.plan(CTX, {"A": 1.0, "B": 1.0, "E": 1.0}, covariance=cov)
    assert "B" in plan.rejected
    notional = np.array([o.quantity for o in plan.orders]) * np.array([100.0, 10.0])
    assert notional.sum() == pytest.approx(10_000.0 - 500.0 - 125.0)  # what B and C leave
    np.testing.assert_allclose(risk_contributions(notional, cov[np.ix_([0, 2], [0, 2])]), 0.5)
    with pytest.raises(ValueError, match="for 3 signalled symbols"):
        rule.plan(CTX, {"A": 1.0, "B": 1.0, "E": 1.0}, covariance=cov[:2, :2])


def test_risk_parity_sizes_a_new_entry_from_the_capital_the_held_positions_leave():
    names = [f"H{i}" for i in range(9)] + ["N"]
    bars = bars_from_closes({s: [10.0] * 5 for s in names})
    held = {s: Holding(100.0, 10.0) for s in names[:9]}  # 9 x 1,000 held
    ctx = StrategyContext(at(4), bars, holdings=held, cash=1_000.0, equity=10_000.0)
    rule = SignalEntryRule(sizer=RiskParitySizer())
    plan = rule.plan(ctx, {"N": 1.0}, volatilities={"N": 0.02})
    (order,) = plan.orders
    assert order.quantity * 10.0 == pytest.approx(1_000.0)  # not 10,000: 100% of equity
    assert "90.00% of equity in use" in order.reason


def test_thirty_signals_at_ten_percent_order_at_most_all_of_equity():
    names = [f"S{i:02d}" for i in range(30)]
    ctx = StrategyContext(
        at(4), bars_from_closes({s: [20.0] * 5 for s in names}), cash=1e4, equity=1e4
    )
    plan = SignalEntryRule(sizer=FixedFractionSizer(fraction=0.1)).plan(
        ctx, dict.fromkeys(names, 1.0)
    )
    assert sum(o.quantity * 20.0 for o in plan.orders) == pytest.approx(1e4)
    half = SignalEntryRule(sizer=FixedFractionSizer(fraction=0.1), max_gross_exposure=0.5)
    assert sum(o.quantity * 20.0 for o in half.plan(ctx, dict.fromkeys(names, 1.0)).orders) == (
        pytest.approx(5e3)
    )


def test_position_caps_keep_the_strongest_signals_and_limit_entries_per_symbol():
    rule = SignalEntryRule(sizer=FixedFractionSizer(fraction=0.1), max_positions=3)
    plan = rule.plan(CTX, {"A": 0.5, "D": 0.9, "E": 0.7})  # B and C held: one slot free
    assert [o.symbol for o in plan.orders] == ["D"]
    assert plan.rejected == {
        "A": "2 positions held (max_positions 3)",
        "E": "2 positions held (max_positions 3)",
    }
    grid = SignalEntryRule(
        sizer=FixedFractionSizer(fraction=0.01), add_to_positions=True, max_entries_per_symbol=2
    )
    plan = grid.plan(CTX, {"A": 1.0, "B": 1.0})
    assert [o.symbol for o in plan.orders] == ["A"]
    assert plan.rejected == {"B": "2 entries open in B (max_entries_per_symbol 2)"}
    with pytest.raises(ValueError, match="max_positions 0"):
        SignalEntryRule(sizer=FixedFractionSizer(), max_positions=0)
