"""The live engine fed by a polling AlpacaSource and by ccxt's trades, against our stand-ins.

The Alpaca feed runs on simulated time: each of its sleeps moves the clock on, and the stand-in
then shows what the market has produced by then (final bars of ended minutes, a provisional bar
for the minute in progress, one bar published late). The ccxt feed runs in real time on a
clock that starts at a whole second, with one-second bars, so its test takes a few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quant_engine.brokers.base import Broker
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.data.live_aggregator import LiveBar, LiveBarConfig
from quant_engine.data.sources import AlpacaConfig, AlpacaSource, RetryPolicy
from quant_engine.live import LiveEngine, LiveEngineConfig, LiveEngineHalted
from quant_engine.live.ccxt_trades_feed import CcxtTradeFeed, CcxtTradesConfig, async_exchange
from quant_engine.live.polling_feed import PollingBarFeed, PollingFeedConfig
from tests.quant_engine.data.sources.conftest import ALPACA_KEY_ID, ALPACA_SECRET
from tests.stand_ins.alpaca import AlpacaStandIn, Bar
from tests.stand_ins.binance_klines import spot_market
from tests.stand_ins.binance_trades import BinanceTradesStandIn, Trade

START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)  # 09:30 in New York, a Monday
MINUTE = timedelta(minutes=1)
PROVISIONAL = 1.0  # the close of a bar still in progress; a strategy must never see it
CLOSES = {
    "AAPL": {m: 150.0 + m for m in range(8)},
    "MSFT": {m: 400.0 - m for m in range(8) if m != 3},  # no trade in minute 3: no bar
}
LATE = ("MSFT", 5)  # published 30 s after its end, when AAPL's bar of minute 5 is long gone
SETTLE_S = 2.0


class Recorder:
    """A strategy that records every bar it is handed, and the time it was handed it."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.calls: list[tuple[datetime, datetime, dict[str, LiveBar]]] = []

    def on_bars(self, timestamp: datetime, bars: Mapping[str, LiveBar], broker: Broker) -> None:
        self.calls.append((timestamp, self.clock(), dict(bars)))

    def bars(self) -> list[LiveBar]:
        return [bar for _, _, bars in self.calls for bar in bars.values()]


class SimulatedMarket:
    """Time for the feed: a sleep moves it on, then the stand-in shows the bars made by then.

    A minute in progress shows as a provisional bar; once it ends, its bar is absent until the
    vendor publishes the final one a moment later (30 s later for the one ``LATE`` bar).
    """

    def __init__(self, server: AlpacaStandIn, now: datetime) -> None:
        self.server = server
        self.now = now
        self.sleeps: list[float] = []
        self.on_tick: Callable[[], None] = lambda: None
        self.publish()

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        self.publish()
        self.on_tick()
        await asyncio.sleep(0)

    def publish(self) -> None:
        book = self.server.bars.setdefault("1Min", {})
        for symbol, closes in CLOSES.items():
            bars = []
            for minute, close in closes.items():
                start = START + minute * MINUTE
                lag = timedelta(seconds=30 if (symbol, minute) == LATE else 1)
                if self.now >= start + MINUTE + lag:
                    bars.append(Bar(start, close - 0.5, close + 1, close - 1, close, 100 + minute))
                elif start <= self.now < start + MINUTE:  # after its end: not yet published
                    bars.append(Bar(start, close - 0.5, close, PROVISIONAL, PROVISIONAL, 7))
            book[symbol] = bars  # one assignment: the server's threads see old or new


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def alpaca_server() -> Iterator[AlpacaStandIn]:
    with AlpacaStandIn(ALPACA_KEY_ID, ALPACA_SECRET, page_size=5) as server:
        yield server


@pytest.fixture
def broker(tmp_path: Path) -> PaperBroker:
    return PaperBroker(PaperBrokerConfig(database=str(tmp_path / "paper.db")))


def polling_feed(
    server: AlpacaStandIn,
    market: SimulatedMarket,
    source_sleeps: Sleeps,
    max_failures: int = 5,
    since: datetime | None = None,
) -> PollingBarFeed:
    config = AlpacaConfig(url_override=server.url, retry=RetryPolicy(max_attempts=2, backoff_s=0.5))
    source = AlpacaSource(config, ALPACA_KEY_ID, ALPACA_SECRET, sleep=source_sleeps)
    feed_config = PollingFeedConfig(
        symbols=["AAPL", "MSFT"],
        interval_s=20.0,
        settle_s=SETTLE_S,
        since=since,
        failures=RetryPolicy(max_attempts=max_failures, backoff_s=5.0),
    )
    return PollingBarFeed(source, feed_config, clock=market.clock, sleep=market.sleep)


QUIET = LiveEngineConfig(handle_signals=False, group_wait_seconds=0.02)


def test_polling_alpaca_delivers_each_completed_bar_once_in_order(
    alpaca_server: AlpacaStandIn, broker: PaperBroker
) -> None:
    market = SimulatedMarket(alpaca_server, START + timedelta(seconds=10))
    source_sleeps = Sleeps()
    feed = polling_feed(alpaca_server, market, source_sleeps)
    strategy = Recorder(market.clock)
    engine = LiveEngine(strategy, broker, feed, QUIET)
    last_end = START + 8 * MINUTE

    def stop_when_done() -> None:
        if (
            strategy.calls and strategy.calls[-1][0] >= last_end
        ) or market.now > START + MINUTE * 60:
            engine.stop("session over")

    market.on_tick = stop_when_done
    # A 429 in the middle of a poll (the source waits as told and asks again), later a 503
    # twice in a row, more than the source's 2 attempts: that poll fails and is repeated.
    alpaca_server.inject(429, {"message": "too many requests"}, after=12, **{"Retry-After": "1"})
    alpaca_server.inject(503, {"message": "unavailable"}, after=20, times=2)
    stats = asyncio.run(engine.run())

    expected = [
        (START + (m + 1) * MINUTE, symbol, closes[m])
        for m in range(8)
        for symbol, closes in sorted(CLOSES.items())
        if m in closes and (symbol, m) != LATE
    ]
    assert [(b.end, b.symbol, b.close) for b in strategy.bars()] == expected
    assert feed.stats.bars_yielded == len(expected)  # the feed itself yields each bar once
    # Never a bar before its period ended (and settled): no provisional bar ever got through.
    assert all(end + timedelta(seconds=SETTLE_S) <= seen_at for end, seen_at, _ in strategy.calls)
    assert PROVISIONAL not in {b.low for b in strategy.bars()}
    # Grouped by end time, in time order; minute 3 has AAPL alone, minute 5 lost MSFT's (late).
    ends = [end for end, _, _ in strategy.calls]
    assert ends == sorted(set(ends)) == [START + (m + 1) * MINUTE for m in range(8)]
    assert feed.stats.late_bars_dropped == 1
    assert source_sleeps == [1.0, 0.5]  # Retry-After honoured; 503 backoff, then the poll failed
    assert feed.stats.failed_polls == 1 and 5.0 in market.sleeps
    assert (stats.bars_received, stats.late_bars_dropped, stats.errors) == (14, 0, 0)
    assert stats.stopped_reason == "session over"
    assert any(r["page_token"] for r in alpaca_server.bar_requests() if "page_token" in r)


def test_a_source_failing_poll_after_poll_halts_the_engine(
    alpaca_server: AlpacaStandIn, broker: PaperBroker
) -> None:
    market = SimulatedMarket(alpaca_server, START + timedelta(minutes=3, seconds=10))
    feed = polling_feed(alpaca_server, market, Sleeps(), 3, since=START + 2 * MINUTE)
    alpaca_server.inject(503, {"message": "unavailable"}, after=2, times=100)
    strategy = Recorder(market.clock)
    with pytest.raises(
        LiveEngineHalted, match=r"alpaca: 3 polls in a row failed; last: .*HTTP 503"
    ):
        asyncio.run(LiveEngine(strategy, broker, feed, QUIET).run())
    assert feed.stats.failed_polls == 3
    assert market.sleeps[-2:] == [5.0, 10.0]  # backoff doubles between failed polls
    assert feed.stats.bars_yielded == 2  # minute 2 (AAPL, MSFT) came before the failures


def test_cancelling_the_engine_stops_the_polling(
    alpaca_server: AlpacaStandIn, broker: PaperBroker
) -> None:
    market = SimulatedMarket(alpaca_server, START)
    feed = polling_feed(alpaca_server, market, Sleeps())

    async def main() -> int:
        task = asyncio.create_task(LiveEngine(Recorder(market.clock), broker, feed, QUIET).run())
        market.on_tick = lambda: market.now >= START + 4 * MINUTE and task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        requests = len(alpaca_server.requests)
        await asyncio.sleep(0.3)  # an orphaned feed would go on polling on simulated time
        assert len(alpaca_server.requests) == requests
        return requests

    assert asyncio.run(main()) > 0
    assert feed.stats.polls >= 10


def test_ccxt_trades_become_bars_and_a_quiet_market_still_flushes_the_last(
    broker: PaperBroker,
) -> None:
    origin = datetime(2026, 1, 5, tzinfo=UTC)
    zero = time.monotonic() - 0.02

    def clock() -> datetime:  # real time, starting at a whole second
        return origin + timedelta(seconds=time.monotonic() - zero)

    def at(seconds: float) -> int:
        return int((origin + timedelta(seconds=seconds)).timestamp() * 1000)

    btc = [(0.1, 90.0, 9.0), (1.1, 100.0, 1.0), (1.3, 101.5, 2.0), (1.5, 99.0, 0.5)]
    btc += [(1.6, 100.5, 1.0), (2.2, 102.0, 1.0), (2.4, 103.0, 1.0)]  # then nothing: quiet
    eth = [(1.2, 10.0, 3.0), (1.4, 10.2, 1.0)]  # and nothing in second 2
    with BinanceTradesStandIn(lambda: int(clock().timestamp() * 1000)) as server:
        server.trades["BTCUSDT"] = [Trade(i, at(s), p, q) for i, (s, p, q) in enumerate(btc)]
        server.trades["ETHUSDT"] = [Trade(50 + i, at(s), p, q) for i, (s, p, q) in enumerate(eth)]
        server.inject(429, {"code": -1003, "msg": "Too many requests."}, path="/trades", after=9)
        config = CcxtTradesConfig(
            symbols=["BTC/USDT", "ETH/USDT"],
            interval_s=0.05,
            limit=100,
            settle_s=0.05,
            params={"fetchTradesMethod": "publicGetTrades"},
            bars=LiveBarConfig(bar_seconds=1, flush_timeout_s=0.4),
            failures=RetryPolicy(max_attempts=3, backoff_s=0.05),
        )
        strategy = Recorder(clock)

        async def main() -> None:
            exchange = async_exchange("binance", enable_rate_limit=False)
            server.point(exchange, [spot_market("BTC", "USDT"), spot_market("ETH", "USDT")])
            try:
                feed = CcxtTradeFeed(exchange, config, clock=clock)
                engine = LiveEngine(strategy, broker, feed, QUIET)
                task = asyncio.create_task(engine.run())
                for _ in range(200):  # at most 10 s
                    if len(strategy.calls) == 2 or task.done():
                        break
                    await asyncio.sleep(0.05)
                engine.stop("test over")
                await task
                assert feed.stats.failed_rounds == 1
            finally:
                await exchange.close()

        asyncio.run(main())
        assert all(r["limit"] == "100" for r in server.trade_requests())

    second = timedelta(seconds=1)
    (first_end, first_seen, first), (last_end, last_seen, last) = strategy.calls
    assert first_end == origin + 2 * second  # the trade of second 0 came before the first bar
    assert first == {
        "BTC/USDT": LiveBar(
            "BTC/USDT", origin + second, first_end, 100.0, 101.5, 99.0, 100.5, 4.5, 4
        ),
        "ETH/USDT": LiveBar("ETH/USDT", origin + second, first_end, 10.0, 10.2, 10.0, 10.2, 4.0, 2),
    }
    assert first_seen >= origin + timedelta(seconds=2.2)  # closed by the next trade
    assert last_end == origin + 3 * second
    assert last == {
        "BTC/USDT": LiveBar(
            "BTC/USDT", origin + 2 * second, last_end, 102.0, 103.0, 102.0, 103.0, 2.0, 2
        )
    }
    assert last_seen >= last_end + timedelta(seconds=0.4)  # flushed: no later trade came


def test_a_symbol_the_exchange_refuses_ends_the_feed_at_once(broker: PaperBroker) -> None:
    with BinanceTradesStandIn(lambda: 0) as server:

        async def main() -> None:
            exchange = async_exchange("binance", enable_rate_limit=False)
            server.point(exchange, [spot_market("BTC", "USDT")])
            server.listed.clear()  # ccxt knows the market, the exchange no longer does
            config = CcxtTradesConfig(
                symbols=["BTC/USDT"], params={"fetchTradesMethod": "publicGetTrades"}
            )
            try:
                feed = CcxtTradeFeed(exchange, config)
                with pytest.raises(LiveEngineHalted, match=r"ccxt:binance: .*Invalid symbol"):
                    await LiveEngine(Recorder(datetime.now), broker, feed, QUIET).run()
            finally:
                await exchange.close()

        asyncio.run(main())
        assert len(server.trade_requests()) == 1  # not retried: asking again cannot help


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"symbols": []}, "non-empty list"),
        ({"symbols": "AAPL"}, "non-empty list"),
        ({"timeframe": "1d"}, "cannot be polled live"),
        ({"interval_s": 0}, "interval_s must be positive"),
        ({"since": datetime(2026, 1, 5, 14, 30)}, "has no timezone"),
    ],
)
def test_polling_config_names_the_bad_setting(settings: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PollingFeedConfig(**{"symbols": ["AAPL"], **settings})


@pytest.mark.parametrize(
    ("settings", "problem"),
    [({"symbols": []}, "non-empty list"), ({"limit": 0}, "limit must be positive")],
)
def test_trades_config_names_the_bad_setting(settings: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        CcxtTradesConfig(**{"symbols": ["BTC/USDT"], **settings})
