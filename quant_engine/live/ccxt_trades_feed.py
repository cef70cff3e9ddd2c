"""A live bar feed from an exchange's public trades, polled through ``ccxt.async_support``.

Each round asks every symbol's recent trades (``fetch_trades``, concurrently), keeps those not
seen before (by trade id, per symbol), and releases them as :class:`Tick` s in time order to
:func:`~quant_engine.data.live_aggregator.stream_bars`, whose :class:`LiveBarAggregator` builds
the bars and flushes the last one when the market goes quiet. Ticks are held back until they are
``settle_s`` older than the start of the round: every symbol was asked after that, so a trade of
one symbol cannot overtake an earlier trade of another that the exchange had not shown yet (the
aggregator would drop that one as late). A round with any failed call releases nothing (what it
did fetch is kept) and is repeated after a backoff; too many failed rounds in a row end the feed
with a :class:`SourceError`. When all ``limit`` trades of an answer are new, trades may have been
missed between two rounds: that is logged and counted (poll more often, or raise the limit).

For binance, ``params={"fetchTradesMethod": "publicGetTrades"}`` asks ``GET /api/v3/trades``
(recent trades) instead of ccxt's default, aggregated trades. The exchange is the caller's: build
it with :func:`async_exchange` and close it (``await exchange.close()``) when done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from quant_engine.data.live_aggregator import (
    EPOCH,
    Clock,
    LiveBar,
    LiveBarAggregator,
    LiveBarConfig,
    Tick,
    stream_bars,
    utc_now,
)
from quant_engine.data.sources.retry import RetryPolicy, SourceError, parse_retry_after
from quant_engine.live.feed_failures import FeedFailures
from quant_engine.live.polling_feed import Sleep, check_feed_timing, period_start

log = logging.getLogger(__name__)


def async_exchange(exchange_id: str, *, enable_rate_limit: bool = True) -> ccxt_async.Exchange:
    """A public (keyless) ccxt async exchange; close it with ``await exchange.close()``."""
    if exchange_id not in ccxt_async.exchanges:
        raise ValueError(f"ccxt: unknown exchange id {exchange_id!r}")
    return getattr(ccxt_async, exchange_id)({"enableRateLimit": enable_rate_limit})


@dataclass(frozen=True)
class CcxtTradesConfig:
    """Which symbols (ccxt's, e.g. ``BTC/USDT``), how often to ask, and the bars to build.

    ``since`` is the start of the first bar to build; None: the next period after the feed
    starts (the first bar whose every trade the feed can see). ``bars.flush_timeout_s`` should
    exceed ``interval_s + settle_s``, or a bar may be flushed before its last trades are released.
    """

    symbols: Sequence[str]
    interval_s: float = 1.0
    limit: int | None = None  # trades per call; None: the exchange's default
    settle_s: float = 0.5
    since: datetime | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # passed to fetch_trades
    bars: LiveBarConfig = field(default_factory=lambda: LiveBarConfig(60, 3.0))
    failures: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=10, backoff_s=1.0, max_backoff_s=30.0)
    )

    def __post_init__(self) -> None:
        check_feed_timing(self)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be positive, got {self.limit}")


@dataclass
class TradesFeedStats:
    """What the feed did so far."""

    rounds: int = 0
    failed_rounds: int = 0
    trades: int = 0
    possible_gaps: int = 0


class _Seen:
    """The latest trade time of a symbol and the ids seen at that time (ids repeat nowhere)."""

    __slots__ = ("ids", "ms")

    def __init__(self, ms: int) -> None:
        self.ms = ms
        self.ids: set[str] = set()


class CcxtTradeFeed:
    """Completed bars of ``config.symbols`` built from polled trades (iterate with async for)."""

    def __init__(
        self,
        exchange: ccxt_async.Exchange,
        config: CcxtTradesConfig,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.exchange = exchange
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.name = f"ccxt:{exchange.id}"
        self.aggregator = LiveBarAggregator(config.bars, clock)
        self.stats = TradesFeedStats()
        self._failures = FeedFailures(self.name, config.failures)

    def __repr__(self) -> str:
        return f"CcxtTradeFeed({self.name}, symbols={len(self.config.symbols)})"

    def __aiter__(self) -> AsyncIterator[LiveBar]:
        return stream_bars(self.ticks(), self.aggregator)

    async def ticks(self) -> AsyncIterator[Tick]:
        """New trades of every symbol as ticks, in time order, from the first bar's start on."""
        period = timedelta(seconds=self.config.bars.bar_seconds)
        since = self.config.since or period_start(self.clock(), period) + period
        floor_ms = int(since.timestamp() * 1000)
        seen = {symbol: _Seen(floor_ms - 1) for symbol in self.config.symbols}
        held: list[Tick] = []
        settle = timedelta(seconds=self.config.settle_s)
        while True:
            started = self.clock()
            answers = await asyncio.gather(
                *(self._fetch(symbol) for symbol in self.config.symbols), return_exceptions=True
            )
            failure: BaseException | None = None
            for symbol, answer in zip(self.config.symbols, answers, strict=True):
                if isinstance(answer, BaseException):
                    failure = failure or answer
                else:
                    held += self._new_ticks(symbol, answer, seen[symbol])
            if failure is not None:
                self.stats.failed_rounds += 1
                await self.sleep(self._failed(failure))
                continue
            self._failures.succeeded()
            self.stats.rounds += 1
            cutoff = started - settle
            held.sort(key=lambda t: (t.timestamp, t.symbol))
            ready = [t for t in held if t.timestamp <= cutoff]
            held = held[len(ready) :]
            for tick in ready:
                yield tick
            wait = started + timedelta(seconds=self.config.interval_s) - self.clock()
            await self.sleep(max(wait.total_seconds(), 0.0))

    async def _fetch(self, symbol: str) -> list[dict[str, Any]]:
        return await self.exchange.fetch_trades(
            symbol, limit=self.config.limit, params=dict(self.config.params)
        )

    def _new_ticks(self, symbol: str, trades: list[dict[str, Any]], seen: _Seen) -> list[Tick]:
        """The trades after the last one seen of ``symbol``, as ticks; ``seen`` moves on."""
        ordered = sorted(trades, key=lambda t: (t["timestamp"], str(t.get("id"))))
        fresh = []
        for trade in ordered:
            ms, trade_id = int(trade["timestamp"]), str(trade.get("id"))
            if ms < seen.ms or (ms == seen.ms and trade_id in seen.ids):
                continue
            if ms > seen.ms:
                seen.ms, seen.ids = ms, set()
            seen.ids.add(trade_id)
            stamp = EPOCH + timedelta(milliseconds=ms)
            fresh.append(Tick(symbol, stamp, float(trade["price"]), float(trade["amount"] or 0)))
        limit = self.config.limit or 0
        if self.stats.rounds and fresh and len(fresh) == len(ordered) >= limit > 0:
            self.stats.possible_gaps += 1
            log.warning(
                "%s: all %d trades of %s were new: some may be missed", self.name, limit, symbol
            )
        self.stats.trades += len(fresh)
        return fresh

    def _failed(self, error: BaseException) -> float:
        """The wait before the next round; raise where retrying cannot help."""
        if not isinstance(error, ccxt.BaseError):
            raise error
        text = f"{type(error).__name__}: {error}"
        if not isinstance(error, ccxt.OperationFailed):  # bad symbol, authentication, ...
            raise SourceError(self.name, f"fetching trades failed: {text}") from error
        retry_after = None
        if isinstance(error, ccxt.DDoSProtection):
            headers = self.exchange.last_response_headers or {}
            retry_after = parse_retry_after(headers.get("Retry-After"))
        return self._failures.failed(text, retry_after)
