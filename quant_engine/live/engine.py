"""The intraday live loop: completed bars from an async feed to a strategy in a worker thread.

The event loop only waits on the feed; the strategy's ``on_bars`` runs in a worker thread
(``asyncio.to_thread``) with a :class:`ThreadSafeBroker`, so its blocking broker calls never
stall the loop. Bars sharing an end time are handed over together, at or after that end (the
feed emits completed bars only), and never out of time order: a bar older than one already
dispatched is dropped and counted. SIGINT and SIGTERM stop the loop gracefully: the strategy
call in progress finishes, no new bars are dispatched, the feed is closed. A strategy error
either halts the engine (the default) or is logged and skipped, up to a number in a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from quant_engine.brokers.base import Broker
from quant_engine.brokers.threadsafe import ThreadSafeBroker
from quant_engine.data.live_aggregator import LiveBar

log = logging.getLogger(__name__)

ErrorHandler = Callable[[Exception, datetime, Mapping[str, LiveBar]], None]


class LiveStrategy(Protocol):
    """A strategy driven bar by bar; it trades through the broker it is given."""

    def on_bars(self, timestamp: datetime, bars: Mapping[str, LiveBar], broker: Broker) -> None:
        """Handle the bars that ended at ``timestamp`` (one per symbol)."""
        ...


class LiveEngineHalted(RuntimeError):
    """The engine stopped because of an error (the strategy's or the feed's)."""


@dataclass(frozen=True)
class LiveEngineConfig:
    """How the engine groups bars and what it does on errors and signals."""

    on_error: Literal["halt", "continue"] = "halt"
    max_consecutive_errors: int = 5  # with "continue": halt after this many failures in a row
    group_wait_seconds: float = 0.05  # how long to wait for more bars of the same end time
    handle_signals: bool = True  # stop gracefully on SIGINT / SIGTERM
    check_broker_on_start: bool = True  # read the account once before the first bar

    def __post_init__(self) -> None:
        if self.on_error not in ("halt", "continue"):
            raise ValueError(f"on_error must be 'halt' or 'continue', not {self.on_error!r}")
        if self.max_consecutive_errors < 1:
            raise ValueError("max_consecutive_errors must be >= 1")
        if self.group_wait_seconds < 0:
            raise ValueError("group_wait_seconds must be >= 0")


@dataclass
class EngineStats:
    """What a run did; ``stopped_reason`` says why it ended."""

    bars_received: int = 0
    batches_dispatched: int = 0
    late_bars_dropped: int = 0
    errors: int = 0
    last_bar_end: datetime | None = None
    stopped_reason: str | None = None
    error_log: list[str] = field(default_factory=list)


class LiveEngine:
    """Runs ``strategy`` on the bars of ``feed`` until the feed ends, a stop, or a halt."""

    def __init__(
        self,
        strategy: LiveStrategy,
        broker: Broker,
        feed: AsyncIterable[LiveBar],
        config: LiveEngineConfig | None = None,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self.strategy = strategy
        self.broker = broker if isinstance(broker, ThreadSafeBroker) else ThreadSafeBroker(broker)
        self.feed = feed
        self.config = config or LiveEngineConfig()
        self.on_error = on_error
        self.stats = EngineStats()
        self._stop: asyncio.Event | None = None
        self._stop_reason: str | None = None
        self._consecutive_errors = 0

    def stop(self, reason: str = "stopped") -> None:
        """Ask the run to end after the strategy call in progress; safe to call repeatedly."""
        if self._stop_reason is None:
            self._stop_reason = reason
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> EngineStats:
        """Dispatch bars until the feed ends or a stop; raise :class:`LiveEngineHalted` on halt."""
        self._stop = asyncio.Event()
        if self._stop_reason is not None:
            self._stop.set()
        if self.config.check_broker_on_start:
            await asyncio.to_thread(self.broker.account)
        bars = aiter(self.feed)
        restore = self._install_signal_handlers()
        try:
            await self._loop(bars)
        finally:
            restore()
            close = getattr(bars, "aclose", None)
            if close is not None:
                await close()
            self.stats.stopped_reason = self._stop_reason or "feed ended"
            log.info("live engine stopped (%s): %s", self.stats.stopped_reason, self.stats)
        return self.stats

    async def _loop(self, bars: AsyncIterator[LiveBar]) -> None:
        assert self._stop is not None
        stop = asyncio.ensure_future(self._stop.wait())
        pending: asyncio.Future[LiveBar] | None = None
        batch: dict[str, LiveBar] = {}
        try:
            while not self._stop.is_set():
                if pending is None:
                    pending = asyncio.ensure_future(anext(bars))
                timeout = self.config.group_wait_seconds if batch else None
                done, _ = await asyncio.wait(
                    {pending, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if stop in done:
                    break
                if pending not in done:  # quiet: the batch is complete
                    await self._dispatch(batch)
                    batch = {}
                    continue
                future, pending = pending, None
                try:
                    bar = future.result()
                except StopAsyncIteration:
                    await self._dispatch(batch)
                    return
                except Exception as error:
                    self.stop(f"feed failed: {type(error).__name__}")
                    raise LiveEngineHalted(f"feed failed: {error}") from error
                self.stats.bars_received += 1
                if batch and (bar.end != _end(batch) or bar.symbol in batch):
                    await self._dispatch(batch)
                    batch = {}
                if self.stats.last_bar_end is not None and bar.end <= self.stats.last_bar_end:
                    self.stats.late_bars_dropped += 1
                    log.warning("late bar %s ending %s dropped", bar.symbol, bar.end)
                    continue
                batch[bar.symbol] = bar
        finally:
            stop.cancel()
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending

    async def _dispatch(self, batch: dict[str, LiveBar]) -> None:
        if not batch:
            return
        end = _end(batch)
        frozen = dict(sorted(batch.items()))
        self.stats.last_bar_end = end
        self.stats.batches_dispatched += 1
        try:
            await asyncio.to_thread(self.strategy.on_bars, end, frozen, self.broker)
        except Exception as error:
            self._strategy_failed(error, end, frozen)
        else:
            self._consecutive_errors = 0

    def _strategy_failed(
        self, error: Exception, end: datetime, bars: Mapping[str, LiveBar]
    ) -> None:
        self.stats.errors += 1
        self._consecutive_errors += 1
        self.stats.error_log.append(f"{end.isoformat()}: {type(error).__name__}: {error}")
        log.error("strategy failed on the bars ending %s: %s", end, error, exc_info=error)
        if self.on_error is not None:
            try:
                self.on_error(error, end, bars)
            except Exception:
                log.exception("the on_error handler failed")
        if self.config.on_error == "halt":
            self.stop("halted on a strategy error")
            raise LiveEngineHalted(f"strategy failed on the bars ending {end}: {error}") from error
        if self._consecutive_errors >= self.config.max_consecutive_errors:
            self.stop("halted after repeated strategy errors")
            raise LiveEngineHalted(
                f"strategy failed {self._consecutive_errors} times in a row; last: {error}"
            ) from error

    def _install_signal_handlers(self) -> Callable[[], None]:
        """Route SIGINT/SIGTERM to :meth:`stop`; return a function restoring the old handlers."""
        if not self.config.handle_signals:
            return lambda: None
        loop = asyncio.get_running_loop()
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                handler = signal.getsignal(sig)
                loop.add_signal_handler(sig, self.stop, f"signal {sig.name}")
            except (NotImplementedError, RuntimeError, ValueError):
                log.warning("cannot handle %s here (not the main thread?)", sig.name)
                continue
            previous[sig] = handler

        def restore() -> None:
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)

        return restore


def _end(batch: Mapping[str, LiveBar]) -> datetime:
    return next(iter(batch.values())).end
