"""The paper broker: cost-model fills, persisted state, ids, clock, buying power, limits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest.costs import CostModel
from quant_engine.brokers.base import (
    Broker,
    DuplicateClientOrderId,
    MarketClosed,
    OrderRejected,
    OrderRequest,
)
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.brokers.quotes import Quote, quotes_from_bars
from quant_engine.brokers.session_clock import SessionClock, SessionClockConfig

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # a Friday, 10:00 in New York


def broker(tmp_path, **config) -> PaperBroker:
    paper = PaperBroker(
        PaperBrokerConfig(database=str(tmp_path / "paper.db"), initial_cash=D(10_000), **config),
        now=lambda: NOW,
    )
    paper.set_quotes({"AAA": Quote(D(100), NOW, sigma=0.02, adv=1e6)})
    return paper


def test_a_market_buy_fills_at_the_cost_model_price_and_state_survives_a_restart(tmp_path):
    paper = broker(tmp_path)
    assert isinstance(paper, Broker)
    order = paper.submit(OrderRequest("o-1", "AAA", "buy", D(10)))
    costs = CostModel()
    total = costs.cost(np.array([1000.0]), 0.02, 1e6)[0]
    commission = D("0.10")  # 1 bp of 1,000
    expected_price = (D(100) + (D(str(total)) - commission) / 10).quantize(D("0.0001"), "ROUND_UP")
    assert order.status == "filled" and order.average_fill_price == expected_price
    assert order.average_fill_price > D(100)
    account = paper.account()
    assert account.cash == D(10_000) - 10 * expected_price - commission
    restarted = PaperBroker(PaperBrokerConfig(database=str(tmp_path / "paper.db")), now=lambda: NOW)
    assert restarted.account() == account
    assert restarted.positions()["AAA"].quantity == D(10)
    assert restarted.order_by_client_id("o-1") == order
    with pytest.raises(DuplicateClientOrderId):
        restarted.submit(OrderRequest("o-1", "AAA", "buy", D(1)))


def test_refusals_name_the_problem(tmp_path):
    paper = broker(tmp_path)
    with pytest.raises(OrderRejected, match="more than the cash") as rejected:
        paper.submit(OrderRequest("big", "AAA", "buy", D(1000)))
    assert rejected.value.code == "insufficient_buying_power"
    with pytest.raises(OrderRejected, match="open a short"):
        paper.submit(OrderRequest("short", "AAA", "sell", D(1)))
    with pytest.raises(OrderRejected, match="no price"):
        paper.submit(OrderRequest("nop", "ZZZ", "buy", D(1)))
    assert paper.order_by_client_id("big") is None  # refused orders are not placed


def test_a_limit_order_waits_for_its_price_and_can_be_cancelled(tmp_path):
    paper = broker(tmp_path)
    order = paper.submit(OrderRequest("lim", "AAA", "buy", D(5), "limit", D(95)))
    assert order.status == "accepted" and paper.open_orders() == [order]
    paper.set_quotes({"AAA": Quote(D(94), NOW)})
    filled = paper.order_by_client_id("lim")
    assert filled.status == "filled" and filled.average_fill_price <= D(95)
    other = paper.submit(OrderRequest("lim2", "AAA", "buy", D(5), "limit", D(50)))
    paper.cancel(other.broker_order_id)
    assert paper.order_by_client_id("lim2").status == "cancelled" and paper.open_orders() == []


def test_weekday_sessions_close_the_market(tmp_path):
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    clock = SessionClock(SessionClockConfig(mode="weekdays"), now=lambda: saturday).clock()
    assert not clock.is_open
    assert clock.next_open == datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # Monday 09:30 New York
    friday = SessionClock(SessionClockConfig(mode="weekdays"), now=lambda: NOW).clock()
    assert friday.is_open and friday.next_close == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    paper = PaperBroker(
        PaperBrokerConfig(
            database=str(tmp_path / "p.db"), clock=SessionClockConfig(mode="weekdays")
        ),
        now=lambda: saturday,
    )
    paper.set_quotes({"AAA": Quote(D(100), saturday)})
    with pytest.raises(MarketClosed):
        paper.submit(OrderRequest("closed", "AAA", "buy", D(1)))


def test_quotes_come_from_the_latest_bar_of_each_symbol():
    bars = pl.DataFrame(
        {
            "symbol": ["A", "A", "A", "B"],
            "timestamp": [datetime(2026, 1, d) for d in (1, 2, 3)] + [datetime(2026, 1, 2)],
            "close": [10.0, 11.0, 12.1, 5.0],
            "volume": [100.0, 100.0, 100.0, 10.0],
        }
    )
    quotes = quotes_from_bars(bars, window=20)
    assert quotes["A"].price == D("12.1") and quotes["A"].as_of == datetime(2026, 1, 3, tzinfo=UTC)
    assert quotes["B"].sigma is None and quotes["B"].adv == 50.0
    with pytest.raises(ValueError, match="volume"):
        quotes_from_bars(bars.drop("volume"))
