"""Trading calendars: which days are sessions, and when each session opens and closes.

Equity exchanges come from the ``exchange_calendars`` package (holidays and early closes kept
up to date there, e.g. ``"XNYS"``); ``"24/7"`` is crypto (every day, midnight to midnight UTC)
and ``"24/5"`` a plain business-day calendar (every weekday, no holidays), which is the calendar
of the synthetic market. Days are ``datetime.date``; open and close are UTC datetimes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import exchange_calendars as xcals
import polars as pl

CRYPTO = "24/7"
BUSINESS_DAYS = "24/5"  # weekdays, no holidays: the synthetic market's calendar
FIRST_DAY = "1990-01-01"  # earliest session the calendars are built for (if the package allows)
SESSION_SCHEMA = {
    "day": pl.Date(),
    "open": pl.Datetime("us", "UTC"),
    "close": pl.Datetime("us", "UTC"),
    "early_close": pl.Boolean(),
}


class CalendarError(ValueError):
    """An unknown calendar name or a day outside the calendar's range."""


@lru_cache(maxsize=16)
def _exchange_calendar(name: str) -> xcals.ExchangeCalendar:
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 reads Series.values, which pandas 3.1 deprecates.
            warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
            try:
                return xcals.get_calendar(name, start=FIRST_DAY)
            except ValueError:  # a calendar that cannot go back that far starts at its bound
                bound = type(xcals.get_calendar(name)).bound_min()
                return xcals.get_calendar(name, start=bound)
    except xcals.errors.InvalidCalendarName as exc:
        raise CalendarError(
            f"unknown trading calendar {name!r} (use an exchange_calendars code such as"
            f" 'XNYS', or '{CRYPTO}' for crypto, '{BUSINESS_DAYS}' for plain weekdays)"
        ) from exc


def _covered_from(name: str) -> date:
    """The first day the calendar was evaluated from (its first session may come later)."""
    cal = _exchange_calendar(name)
    bound = cal.bound_min()
    first_day = date.fromisoformat(FIRST_DAY)
    return max(first_day, bound.date()) if bound is not None else first_day


@dataclass(frozen=True)
class TradingCalendar:
    """One named calendar (an ``exchange_calendars`` code, ``"24/7"`` or ``"24/5"``)."""

    name: str = "XNYS"

    def __post_init__(self) -> None:
        _exchange_calendar(self.name)  # fail early on an unknown name

    def sessions(self, start: date, end: date) -> pl.DataFrame:
        """Sessions with ``start <= day < end``: day, open, close (UTC) and early_close."""
        cal = _exchange_calendar(self.name)
        last = end - timedelta(days=1)
        if last < start:
            return pl.DataFrame(schema=SESSION_SCHEMA)
        first_ok, last_ok = _covered_from(self.name), cal.last_session.date()
        if start < min(first_ok, cal.first_session.date()) or last > last_ok:
            raise CalendarError(
                f"calendar {self.name!r} covers {first_ok} to {last_ok}; asked for"
                f" {start} to {last}"
            )
        schedule = cal.schedule.loc[str(start) : str(last)]
        utc = {c: schedule[c].dt.tz_convert(None).to_numpy() for c in ("open", "close")}
        return pl.DataFrame(
            {
                "day": schedule.index.to_numpy(),
                **utc,
                "early_close": schedule.index.isin(cal.early_closes),
            }
        ).select(
            pl.col("day").cast(pl.Date),
            *(pl.col(c).cast(pl.Datetime("us")).dt.replace_time_zone("UTC") for c in utc),
            "early_close",
        )

    @property
    def timezone(self) -> str:
        """The exchange's time zone (``UTC`` for ``24/7`` and ``24/5``)."""
        return str(_exchange_calendar(self.name).tz)

    def session_days(self, start: date, end: date) -> list[date]:
        """The session days with ``start <= day < end``."""
        return self.sessions(start, end)["day"].to_list()

    def is_session(self, day: date) -> bool:
        return self.sessions(day, day + timedelta(days=1)).height == 1


def calendar_for(name: str) -> TradingCalendar:
    """The calendar called ``name`` (cached)."""
    return _calendar(name)


@lru_cache(maxsize=16)
def _calendar(name: str) -> TradingCalendar:
    return TradingCalendar(name)
