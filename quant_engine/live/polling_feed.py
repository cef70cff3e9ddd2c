"""A live bar feed that polls a :class:`BarSource` (Alpaca, Databento, ccxt REST) for new bars.

Every ``interval_s`` it asks the source for the recent bars of its symbols and yields, in time
order, those it has not yielded before, once their period has ended and ``settle_s`` more has
passed (vendors publish a bar a moment after its end, and not every symbol at once). A bar is
taken when ``end + settle_s`` is at or before the time its poll *started*, so the vendor built
it after the period closed. Bars are yielded as one watermark moves forward: a bar ending at or
before the latest end already yielded is never yielded (a duplicate is skipped silently; one
seen for the first time only then is late: dropped, logged and counted, as the engine would).

``BarSource.fetch`` speaks in session dates, so each poll asks from the day of the watermark
(less 12 hours, so that any session time zone is covered) to the day after now: fine for tens
of symbols at one-minute bars, heavy for thousands. The source's own retries handle a 429 or a
5xx inside a poll; a poll that still fails is retried after a backoff (see
:class:`~quant_engine.live.feed_failures.FeedFailures`), and too many failures in a row end the
feed with a :class:`SourceError`, which halts the engine. The blocking ``fetch`` runs in a
worker thread; cancelling the feed abandons the poll in flight (its thread finishes on its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from quant_engine.data.live_aggregator import EPOCH, Clock, LiveBar, utc_now
from quant_engine.data.sources.base import BarSource, Timeframe
from quant_engine.data.sources.retry import RetryPolicy, SourceError
from quant_engine.live.feed_failures import FeedFailures

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]
PERIOD_SECONDS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600}
_ZONE_MARGIN = timedelta(hours=12)  # session dates of any time zone, from a UTC instant
_ZONE_AHEAD = timedelta(hours=14)
_MEMORY = timedelta(days=2)  # how far back yielded bars are remembered (beyond a poll's window)


@dataclass(frozen=True)
class PollingFeedConfig:
    """What to poll, how often, and how long after a bar's end to wait before taking it.

    ``since`` is the start of the first bar to deliver; None: the bar in progress when the feed
    starts. ``failures.max_attempts`` failed polls in a row end the feed.
    """

    symbols: Sequence[str]
    interval_s: float = 15.0
    timeframe: Timeframe = "1m"
    settle_s: float = 2.0
    since: datetime | None = None
    failures: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=10, backoff_s=1.0, max_backoff_s=60.0)
    )

    def __post_init__(self) -> None:
        check_feed_timing(self)
        if self.timeframe not in PERIOD_SECONDS:
            raise ValueError(
                f"timeframe {self.timeframe!r} cannot be polled live;"
                f" use {', '.join(PERIOD_SECONDS)}"
            )


def check_feed_timing(config: Any) -> None:
    """Validate a feed config's symbols, ``interval_s``, ``settle_s`` and ``since``, and keep
    its symbols as a tuple without repeats (the configs are frozen dataclasses)."""
    if isinstance(config.symbols, str) or not config.symbols:
        raise ValueError(f"symbols must be a non-empty list of symbols, got {config.symbols!r}")
    object.__setattr__(config, "symbols", tuple(dict.fromkeys(config.symbols)))
    if config.interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {config.interval_s}")
    if config.settle_s < 0:
        raise ValueError(f"settle_s must be non-negative, got {config.settle_s}")
    if config.since is not None and config.since.tzinfo is None:
        raise ValueError(f"since {config.since} has no timezone")


@dataclass
class PollingFeedStats:
    """What the feed did so far."""

    polls: int = 0
    failed_polls: int = 0
    bars_yielded: int = 0
    late_bars_dropped: int = 0
    last_bar_end: datetime | None = None


class PollingBarFeed:
    """Completed bars of ``config.symbols`` from ``source``, polled (iterate it with async for)."""

    def __init__(
        self,
        source: BarSource,
        config: PollingFeedConfig,
        *,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.source = source
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self.period = timedelta(seconds=PERIOD_SECONDS[config.timeframe])
        self.stats = PollingFeedStats()
        self._failures = FeedFailures(source.name, config.failures)

    def __repr__(self) -> str:
        return f"PollingBarFeed({self.source!r}, symbols={len(self.config.symbols)})"

    def __aiter__(self) -> AsyncIterator[LiveBar]:
        return self._bars()

    async def _bars(self) -> AsyncIterator[LiveBar]:
        since = (self.config.since or period_start(self.clock(), self.period)).astimezone(UTC)
        next_start = since  # the earliest bar start still to be yielded
        recent: set[tuple[str, datetime]] = set()  # bars yielded (or dropped) lately
        while True:
            started = self.clock()
            try:
                frame = await asyncio.to_thread(
                    self.source.fetch,
                    list(self.config.symbols),
                    (next_start - _ZONE_MARGIN).date(),
                    (started + _ZONE_AHEAD).date() + timedelta(days=1),
                    self.config.timeframe,
                )
            except SourceError as error:
                self.stats.failed_polls += 1
                await self.sleep(self._failures.failed(error.problem))
                continue
            self._failures.succeeded()
            self.stats.polls += 1
            bars = self._fresh(frame, since, next_start, started, recent)
            for bar in bars:
                self.stats.bars_yielded += 1
                self.stats.last_bar_end = bar.end
                yield bar
            if bars:
                next_start = bars[-1].start + self.period
                recent = {key for key in recent if key[1] >= next_start - _MEMORY}
            wait = started + timedelta(seconds=self.config.interval_s) - self.clock()
            await self.sleep(max(wait.total_seconds(), 0.0))

    def _fresh(
        self,
        frame: pl.DataFrame,
        since: datetime,
        next_start: datetime,
        started: datetime,
        recent: set[tuple[str, datetime]],
    ) -> list[LiveBar]:
        """The complete bars of ``frame`` not yielded yet, by (end, symbol); late ones counted."""
        complete_before = started - self.period - timedelta(seconds=self.config.settle_s)
        wanted = frame.filter(
            pl.col("symbol").is_in(self.config.symbols),
            pl.col("timestamp").is_between(since, complete_before),
        ).unique(subset=["symbol", "timestamp"], keep="last")
        fresh: list[LiveBar] = []
        for symbol, start, open_, high, low, close, volume in wanted.sort(
            "timestamp", "symbol"
        ).iter_rows():
            key = (symbol, start)
            if start >= next_start:
                fresh.append(
                    LiveBar(symbol, start, start + self.period, open_, high, low, close, volume, 1)
                )
            elif key not in recent and start >= next_start - _MEMORY:
                self.stats.late_bars_dropped += 1
                log.warning("%s: bar of %s at %s came too late; dropped", self.source.name, *key)
            recent.add(key)
        return fresh


def period_start(moment: datetime, period: timedelta) -> datetime:
    """The start (UTC) of the ``period`` that holds ``moment``, periods aligned to the epoch."""
    return EPOCH + ((moment.astimezone(UTC) - EPOCH) // period) * period
