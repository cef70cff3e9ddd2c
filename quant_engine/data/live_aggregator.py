"""Live bar aggregation: ticks (or sub-bars) in, completed N-second bars out.

A bar covers ``[start, start + period)``, periods aligned to the UTC epoch. It is emitted when
it is known to be complete:

- a tick (of any symbol) arrives in a later period: every open bar of earlier periods closes;
- or no tick arrives, and the clock passes ``end + flush_timeout``: the bar is flushed anyway
  (otherwise the last bar before a quiet spell, such as 15:59 before the close, would never
  come out).

A tick for a period already emitted, or older than the latest period seen, is late: it is
dropped and counted, never folded into a bar the strategy has already seen, so bars come out
in time order. The clock is injectable, so the aggregator is
deterministic; :func:`stream_bars` drives it from an async tick feed, waking up for the next
flush deadline when the feed is quiet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from quant_engine.data.schema import BAR_SCHEMA

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LiveBarConfig:
    """The bar period and how long after its end to wait for stragglers before flushing."""

    bar_seconds: int = 60
    flush_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.bar_seconds < 1 or 86_400 % self.bar_seconds:
            raise ValueError(
                f"bar_seconds must divide a day (60, 300, 3600, ...), got {self.bar_seconds}"
            )
        if self.flush_timeout_s < 0:
            raise ValueError(f"flush_timeout_s must be non-negative, got {self.flush_timeout_s}")


@dataclass(frozen=True)
class Tick:
    """A trade: its time (timezone-aware), price and size."""

    symbol: str
    timestamp: datetime
    price: float
    size: float = 0.0


@dataclass(frozen=True)
class LiveBar:
    """A completed bar over ``[start, end)``; ``updates`` counts the ticks/sub-bars in it."""

    symbol: str
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    updates: int


class _Building:
    """A bar being built (mutable, for speed; frozen into a :class:`LiveBar` when done)."""

    __slots__ = ("close", "high", "low", "open", "updates", "volume")

    def __init__(self, open: float, high: float, low: float, close: float, volume: float) -> None:
        self.open, self.high, self.low, self.close = open, high, low, close
        self.volume, self.updates = volume, 1


class LiveBarAggregator:
    """Builds bars per symbol and says when each is complete (see the module doc).

    Every open bar belongs to the current period (the latest any update reached): a later
    period closes them all, and an earlier one is late.
    """

    def __init__(self, config: LiveBarConfig, clock: Clock = utc_now) -> None:
        self.config = config
        self.clock = clock
        self._period = timedelta(seconds=config.bar_seconds)
        self._timeout = timedelta(seconds=config.flush_timeout_s)
        self._start = EPOCH  # the current period: [start, end)
        self._end = EPOCH
        self._open: dict[str, _Building] = {}
        self._flushed: set[str] = set()  # symbols whose bar of this period was flushed
        self.late_updates = 0

    def on_tick(self, tick: Tick) -> list[LiveBar]:
        """Add a trade; return the bars it proves complete."""
        price = tick.price
        return self.add(tick.symbol, tick.timestamp, price, price, price, price, tick.size)

    def add(
        self,
        symbol: str,
        timestamp: datetime,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
    ) -> list[LiveBar]:
        """Add a tick or a sub-bar starting at ``timestamp``; return the bars now complete."""
        done: list[LiveBar] = []
        try:
            current = self._start <= timestamp < self._end
        except TypeError:
            raise ValueError(f"timestamp {timestamp} has no timezone") from None
        if not current:
            if timestamp < self._start:
                return self._late(symbol, timestamp)
            done = self._close_all()
            self._flushed.clear()
            self._start = EPOCH + ((timestamp - EPOCH) // self._period) * self._period
            self._end = self._start + self._period
        elif symbol in self._flushed:
            return self._late(symbol, timestamp)
        bar = self._open.get(symbol)
        if bar is None:
            self._open[symbol] = _Building(open, high, low, close, volume)
        else:
            bar.high = max(bar.high, high)
            bar.low = min(bar.low, low)
            bar.close = close
            bar.volume += volume
            bar.updates += 1
        return done

    def _late(self, symbol: str, timestamp: datetime) -> list[LiveBar]:
        self.late_updates += 1
        log.debug("late update for %s at %s dropped (its bar was emitted)", symbol, timestamp)
        return []

    def next_deadline(self) -> datetime | None:
        """When the open bars are due to be flushed, if any bar is open."""
        return self._end + self._timeout if self._open else None

    def flush_due(self, now: datetime | None = None) -> list[LiveBar]:
        """Emit the open bars once their end plus the flush timeout has passed (by the clock)."""
        if self._open and self._end + self._timeout <= (now or self.clock()):
            return self._close_all()
        return []

    def flush_all(self) -> list[LiveBar]:
        """Emit every open bar, complete or not (at the end of a feed)."""
        return self._close_all()

    def _close_all(self) -> list[LiveBar]:
        done = [
            LiveBar(
                symbol, self._start, self._end, b.open, b.high, b.low, b.close, b.volume, b.updates
            )
            for symbol, b in sorted(self._open.items())
        ]
        self._flushed.update(self._open)
        self._open.clear()
        return done


async def stream_bars(
    ticks: AsyncIterator[Tick], aggregator: LiveBarAggregator
) -> AsyncIterator[LiveBar]:
    """Completed bars from an async tick feed, flushing on timeout while the feed is quiet.

    When the feed ends, the bars still open are emitted as they are.
    """
    pending: asyncio.Future[Tick] = asyncio.ensure_future(anext(ticks))
    try:
        while True:
            deadline = aggregator.next_deadline()
            wait = None
            if deadline is not None:
                wait = max((deadline - aggregator.clock()).total_seconds(), 0.0)
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if not done:
                for bar in aggregator.flush_due():
                    yield bar
                continue
            try:
                tick = pending.result()
            except StopAsyncIteration:
                for bar in aggregator.flush_all():
                    yield bar
                return
            pending = asyncio.ensure_future(anext(ticks))
            for bar in aggregator.on_tick(tick):
                yield bar
    finally:
        pending.cancel()


def bars_frame(bars: Iterable[LiveBar]) -> pl.DataFrame:
    """Live bars as a canonical bar frame (timestamp = the bar's start, UTC)."""
    rows = [
        (b.symbol, b.start.astimezone(UTC), b.open, b.high, b.low, b.close, b.volume) for b in bars
    ]
    return pl.DataFrame(rows, schema=BAR_SCHEMA, orient="row").sort("symbol", "timestamp")
