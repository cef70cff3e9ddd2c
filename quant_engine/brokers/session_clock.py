"""A market clock: always open, weekday sessions between two local times, or an exchange's
calendar (holidays and early closes from ``exchange_calendars``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from quant_engine.brokers.base import MarketClock


@dataclass(frozen=True)
class SessionClockConfig:
    """``always`` open (crypto, tests), ``weekdays`` from ``open`` to ``close`` local time, or
    ``exchange``: the sessions of ``calendar`` (holidays and early closes included)."""

    mode: Literal["always", "weekdays", "exchange"] = "always"
    open: time = time(9, 30)
    close: time = time(16, 0)
    timezone: str = "America/New_York"
    calendar: str = "XNYS"

    def __post_init__(self) -> None:
        if self.mode not in ("always", "weekdays", "exchange"):
            raise ValueError(f"unknown clock mode {self.mode!r}")
        if self.open >= self.close:
            raise ValueError(f"session open {self.open} must be before close {self.close}")
        ZoneInfo(self.timezone)


class SessionClock:
    """Answers whether the market is open at ``now()`` (injectable for tests)."""

    def __init__(
        self,
        config: SessionClockConfig | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config or SessionClockConfig()
        self._now = now
        self._zone = ZoneInfo(self.config.timezone)

    def now(self) -> datetime:
        return self._now()

    def clock(self) -> MarketClock:
        now = self.now()
        if self.config.mode == "always":
            return MarketClock(timestamp=now, is_open=True)
        if self.config.mode == "exchange":
            return self._exchange_clock(now)
        local = now.astimezone(self._zone)
        opens = self._session_start(local.date())
        closes = datetime.combine(local.date(), self.config.close, self._zone)
        is_open = local.weekday() < 5 and opens <= local < closes
        if is_open:
            next_open = self._next_open(local.date() + timedelta(days=1))
        elif local.weekday() < 5 and local < opens:
            next_open = opens
        else:
            next_open = self._next_open(local.date() + timedelta(days=1))
        next_close = (
            closes
            if is_open
            else next_open.replace(hour=self.config.close.hour, minute=self.config.close.minute)
        )
        return MarketClock(
            timestamp=now,
            is_open=is_open,
            next_open=next_open.astimezone(UTC),
            next_close=next_close.astimezone(UTC),
        )

    def _session_start(self, day) -> datetime:
        return datetime.combine(day, self.config.open, self._zone)

    def _next_open(self, day) -> datetime:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        return self._session_start(day)

    def _exchange_clock(self, now: datetime) -> MarketClock:
        from quant_engine.data.calendars import calendar_for

        today = now.astimezone(UTC).date()
        sessions = calendar_for(self.config.calendar).sessions(
            today - timedelta(days=1), today + timedelta(days=15)
        )
        for opens, closes in zip(sessions["open"], sessions["close"], strict=True):
            if opens <= now < closes:
                later = sessions.filter(sessions["open"] > now)
                return MarketClock(now, True, later["open"][0] if later.height else None, closes)
            if now < opens:
                return MarketClock(now, False, opens, closes)
        raise ValueError(f"calendar {self.config.calendar} has no session after {now}")
