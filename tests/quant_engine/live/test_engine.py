"""The live engine with an in-memory feed and a real Alpaca client against our stand-in."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from quant_engine.brokers.alpaca import AlpacaBroker
from quant_engine.brokers.base import Broker, OrderRequest
from quant_engine.brokers.threadsafe import ThreadSafeBroker
from quant_engine.data.live_aggregator import LiveBar
from quant_engine.live import LiveEngine, LiveEngineConfig, LiveEngineHalted, replay
from tests.quant_engine.brokers.conftest import ALPACA_KEY, ALPACA_SECRET, alpaca_config
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.trading_server import LoopbackServer

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
CLOSES = {"AAPL": [150.0, 151.0, 150.5, 152.0], "MSFT": [400.0, 399.0, 401.0, 402.0]}


def bar(symbol: str, minute: int, close: float) -> LiveBar:
    start = START + minute * MINUTE
    return LiveBar(symbol, start, start + MINUTE, close, close, close, close, 100.0, 3)


def recorded_bars() -> list[LiveBar]:
    return [bar(s, m, CLOSES[s][m]) for m in range(4) for s in sorted(CLOSES)]


class Momentum:
    """Buys one share of every symbol whose close rose since the previous bar."""

    def __init__(self, fail_on: set[int] = frozenset()) -> None:
        self.calls: list[tuple[datetime, list[str]]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on
        self._last: dict[str, float] = {}

    def on_bars(self, timestamp: datetime, bars: Mapping[str, LiveBar], broker: Broker) -> None:
        self.threads.add(threading.current_thread().name)
        self.calls.append((timestamp, list(bars)))
        if len(self.calls) in self.fail_on:
            raise RuntimeError(f"boom on call {len(self.calls)}")
        for symbol, current in bars.items():
            before = self._last.get(symbol)
            self._last[symbol] = current.close
            if before is not None and current.close > before:
                cid = f"mom-{timestamp:%H%M}-{symbol}"
                broker.submit(OrderRequest(cid, symbol, "buy", Decimal(1)))


@pytest.fixture
def account() -> AlpacaTradingStandIn:
    prices = {"AAPL": Decimal("150"), "MSFT": Decimal("400")}
    return AlpacaTradingStandIn(ALPACA_KEY, ALPACA_SECRET, prices=prices)


@pytest.fixture
def broker(account: AlpacaTradingStandIn) -> Iterator[AlpacaBroker]:
    with LoopbackServer(account) as server:
        yield AlpacaBroker(alpaca_config(server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)


def run(engine: LiveEngine):
    return asyncio.run(engine.run())


def test_bars_reach_the_strategy_grouped_in_order_in_a_worker_thread(
    broker: AlpacaBroker, account: AlpacaTradingStandIn
) -> None:
    strategy = Momentum()
    stats = run(LiveEngine(strategy, broker, replay(recorded_bars())))
    assert [t for t, _ in strategy.calls] == [START + (m + 1) * MINUTE for m in range(4)]
    assert all(symbols == ["AAPL", "MSFT"] for _, symbols in strategy.calls)
    assert threading.main_thread().name not in strategy.threads
    assert sorted(o.client_order_id for o in account.orders) == [
        "mom-1432-AAPL",
        "mom-1433-MSFT",
        "mom-1434-AAPL",
        "mom-1434-MSFT",
    ]
    assert (stats.bars_received, stats.batches_dispatched, stats.errors) == (8, 4, 0)
    assert stats.stopped_reason == "feed ended"


def test_a_bar_older_than_one_dispatched_is_dropped(broker: AlpacaBroker) -> None:
    bars = recorded_bars()
    late = bar("AAPL", 0, 999.0)
    strategy = Momentum()
    stats = run(LiveEngine(strategy, broker, replay([*bars[:4], late, *bars[4:]])))
    assert stats.late_bars_dropped == 1
    assert len(strategy.calls) == 4
    assert [t for t, _ in strategy.calls] == sorted(t for t, _ in strategy.calls)


def test_halt_policy_stops_at_the_first_strategy_error(broker: AlpacaBroker) -> None:
    closed = []

    async def feed() -> AsyncIterator[LiveBar]:
        try:
            for item in recorded_bars():
                yield item
        finally:
            closed.append(True)

    seen = []
    strategy = Momentum(fail_on={2})
    engine = LiveEngine(
        strategy, broker, feed(), on_error=lambda error, ts, bars: seen.append((ts, list(bars)))
    )
    with pytest.raises(LiveEngineHalted, match="boom on call 2"):
        run(engine)
    assert len(strategy.calls) == 2
    assert seen == [(START + 2 * MINUTE, ["AAPL", "MSFT"])]
    assert engine.stats.stopped_reason == "halted on a strategy error"
    assert closed == [True]


def test_continue_policy_skips_errors_but_not_too_many_in_a_row(broker: AlpacaBroker) -> None:
    lenient = LiveEngineConfig(on_error="continue", max_consecutive_errors=2)
    strategy = Momentum(fail_on={2})
    stats = run(LiveEngine(strategy, broker, replay(recorded_bars()), lenient))
    assert (len(strategy.calls), stats.errors) == (4, 1)
    assert "boom on call 2" in stats.error_log[0]

    failing = Momentum(fail_on={1, 2, 3, 4})
    with pytest.raises(LiveEngineHalted, match="2 times in a row"):
        run(LiveEngine(failing, broker, replay(recorded_bars()), lenient))
    assert len(failing.calls) == 2


def test_sigterm_finishes_the_current_bar_then_stops(broker: AlpacaBroker) -> None:
    closed = []

    async def endless() -> AsyncIterator[LiveBar]:
        minute = 0
        try:
            while True:
                yield bar("AAPL", minute, 150.0 + minute)
                minute += 1
                await asyncio.sleep(0.01)
        finally:
            closed.append(minute)

    class SignalsOnSecondBar(Momentum):
        def on_bars(self, timestamp, bars, broker):
            super().on_bars(timestamp, bars, broker)
            if len(self.calls) == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    # A harmless handler first, so a broken engine could not take the test run down with it.
    fallback = signal.signal(signal.SIGTERM, lambda *_: None)
    ours = signal.getsignal(signal.SIGTERM)
    try:
        strategy = SignalsOnSecondBar()
        stats = run(LiveEngine(strategy, broker, endless()))
        assert stats.stopped_reason == "signal SIGTERM"
        assert len(strategy.calls) == 2
        assert closed and len(closed) == 1
        assert signal.getsignal(signal.SIGTERM) is ours  # handlers restored
    finally:
        signal.signal(signal.SIGTERM, fallback)


def test_stop_from_the_loop_ends_the_run(broker: AlpacaBroker) -> None:
    async def main() -> tuple[LiveEngine, object]:
        async def endless() -> AsyncIterator[LiveBar]:
            minute = 0
            while True:
                yield bar("MSFT", minute, 400.0)
                minute += 1
                await asyncio.sleep(0.01)

        engine = LiveEngine(Momentum(), broker, endless(), LiveEngineConfig(handle_signals=False))
        task = asyncio.create_task(engine.run())
        while engine.stats.batches_dispatched < 3:
            await asyncio.sleep(0.01)
        engine.stop()
        return engine, await task

    engine, stats = asyncio.run(main())
    assert stats.stopped_reason == "stopped"
    assert isinstance(engine.broker, ThreadSafeBroker)
