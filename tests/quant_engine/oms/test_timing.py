"""When orders go out: market-on-open orders in Alpaca's OPG window (waiting for it when the run
is early), and no orders on an exchange holiday (the paper broker's exchange clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from quant_engine.brokers.alpaca import AlpacaBroker
from quant_engine.brokers.base import MarketClosed, OrderRejected, OrderRequest
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.brokers.quotes import Quote
from quant_engine.brokers.session_clock import SessionClock, SessionClockConfig
from quant_engine.oms import ExecutorConfig, OrderJournal, RebalanceExecutor, Targets
from quant_engine.oms.executor import opg_window_wait
from tests.quant_engine.brokers.conftest import ALPACA_KEY, ALPACA_SECRET, alpaca_config
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.trading_server import LoopbackServer

DAY = date(2026, 1, 5)
PRICES = {"AAPL": Decimal("150"), "MSFT": Decimal("400")}
TARGETS = Targets(DAY, {"AAPL": Decimal(10), "MSFT": Decimal(5)}, PRICES)


def test_the_opg_window_is_19_00_to_09_28_new_york():
    assert opg_window_wait(datetime(2026, 1, 6, 0, 0, tzinfo=UTC)) == 0  # 19:00
    assert opg_window_wait(datetime(2026, 1, 6, 14, 27, tzinfo=UTC)) == 0  # 09:27
    assert opg_window_wait(datetime(2026, 1, 6, 14, 28, tzinfo=UTC)) > 0  # 09:28
    assert opg_window_wait(datetime(2026, 1, 5, 23, 30, tzinfo=UTC)) == 1800  # 18:30


@pytest.mark.parametrize("max_wait", [3600.0, 600.0])
def test_an_early_run_waits_for_the_opg_window_or_queues(tmp_path: Path, max_wait: float):
    account = AlpacaTradingStandIn(ALPACA_KEY, ALPACA_SECRET, prices=dict(PRICES))
    account.market_open = False
    account.now = datetime(2026, 1, 5, 23, 30, tzinfo=UTC)  # 18:30 New York: too early
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the broker's clock moves on while we wait
        waited.append(seconds)
        account.now = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)

    with LoopbackServer(account) as server:
        broker = AlpacaBroker(alpaca_config(server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)
        config = ExecutorConfig(timing="market_on_open", max_wait_seconds=max_wait)
        executor = RebalanceExecutor(broker, OrderJournal(tmp_path / "j.db"), config, sleep=sleep)
        report = executor.run(TARGETS)
    if max_wait >= 1800:
        assert waited == [1800] and len(report.sent) == 2 and not report.queued
        assert {o.time_in_force for o in account.orders} == {"opg"}
        assert all(o.is_open for o in account.orders)  # for the next opening auction
    else:
        assert waited == [] and report.queued and account.orders == []


def test_the_stand_in_refuses_opg_orders_in_the_day_like_alpaca():
    account = AlpacaTradingStandIn(ALPACA_KEY, ALPACA_SECRET, prices=dict(PRICES))
    account.now = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
    with LoopbackServer(account) as server:
        broker = AlpacaBroker(alpaca_config(server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)
        with pytest.raises(OrderRejected, match="opg"):
            broker.submit(OrderRequest("o1", "AAPL", "buy", Decimal(1), time_in_force="opg"))


def test_no_paper_order_on_an_exchange_holiday(tmp_path: Path):
    thanksgiving = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    clock = SessionClockConfig(mode="exchange")
    session = SessionClock(clock, now=lambda: thanksgiving).clock()
    assert not session.is_open and session.next_open == datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
    assert session.next_close == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)  # an early close
    broker = PaperBroker(
        PaperBrokerConfig(database=str(tmp_path / "paper.db"), clock=clock),
        now=lambda: thanksgiving,
    )
    broker.set_quotes({s: Quote(p, thanksgiving) for s, p in PRICES.items()})
    journal = OrderJournal(tmp_path / "journal.db")
    report = RebalanceExecutor(broker, journal).run(TARGETS)
    assert report.queued and report.sent == []
    with pytest.raises(MarketClosed):
        RebalanceExecutor(broker, journal, ExecutorConfig(on_market_closed="fail")).run(TARGETS)
