"""The planner: sells first, lots, minimum notional, free cash, cancels, closing positions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from quant_engine.brokers.base import Order, Position
from quant_engine.brokers.lots import LotRules
from quant_engine.oms import plan_rebalance, target_quantities
from quant_engine.portfolio import DecisionCore


def pos(symbol: str, quantity: str) -> Position:
    return Position(symbol, D(quantity), D(1))


def test_sells_come_first_lots_round_down_and_untargeted_holdings_close():
    plan = plan_rebalance(
        targets={"A": D("157"), "B": D("40")},
        prices={"A": D(10), "B": D(5), "C": D(2)},
        positions={"B": pos("B", "100"), "C": pos("C", "7.5")},
        cash=D(10_000),
        rules={"A": LotRules("A", quantity_step=D(10))},
    )
    assert [(o.symbol, o.side, o.quantity) for o in plan.orders] == [
        ("B", "sell", D(60)),
        ("C", "sell", D("7.5")),  # closed whole, odd lot included
        ("A", "buy", D(150)),  # 157 rounded down to lots of 10
    ]


def test_buys_are_scaled_to_the_free_cash_and_small_orders_are_skipped():
    plan = plan_rebalance(
        targets={"A": D(100), "B": D(100), "C": D(1)},
        prices={"A": D(10), "B": D(10), "C": D(3)},
        positions={},
        cash=D(1000),
        rules={"C": LotRules("C", quantity_step=D(1), min_notional=D(5))},
    )
    assert [(o.symbol, o.quantity) for o in plan.buys] == [("A", D(50)), ("B", D(50))]
    assert sum(o.notional for o in plan.buys) <= D(1000)
    assert "minimum notional" in plan.notes["C"]


def test_open_orders_in_the_wrong_direction_are_cancelled_and_fitting_ones_count():
    def order(coid, symbol, side, qty):
        return Order(coid, coid, symbol, side, D(qty), "accepted")

    plan = plan_rebalance(
        targets={"A": D(0), "B": D(100)},
        prices={"A": D(10), "B": D(10)},
        positions={"A": pos("A", "50")},
        cash=D(10_000),
        open_orders=[order("1", "A", "buy", 20), order("2", "B", "buy", 60)],
    )
    assert [o.client_order_id for o in plan.cancels] == ["1"]
    assert [(o.symbol, o.side, o.quantity) for o in plan.orders] == [
        ("A", "sell", D(50)),
        ("B", "buy", D(40)),  # 60 already pending
    ]


def test_target_weights_become_lot_rounded_quantities():
    quantities = target_quantities(
        DecisionCore(),
        {"A": 0.5, "B": -0.25, "C": 0.0},
        {"A": D(30), "B": D(7)},
        positions={},
        cash=D(10_000),
        rules={"A": LotRules("A", quantity_step=D(5))},
    )
    assert quantities == {"A": D(165), "B": D(-357), "C": D(0)}
    with pytest.raises(ValueError, match="positive price"):
        target_quantities(DecisionCore(), {"Z": 0.1}, {}, {}, D(100))


def test_a_holding_without_a_price_stays_put_and_counts_in_the_equity():
    held = Position("Z", D(10), D(90), market_price=D(100))  # 1,000 by the broker's mark
    quantities = target_quantities(
        DecisionCore(), {"A": 0.5}, {"A": D(10)}, positions={"Z": held}, cash=D(1000)
    )
    assert quantities == {"A": D(100), "Z": D(10)}  # half of 2,000 in A; Z untouched
