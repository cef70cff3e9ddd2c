"""Ingest a range of sessions: fetch from a source, check, and only then commit to the store.

The checks look at the new bars together with a few stored days before them, so that the
first new day's jump, gap and staleness are judged against what came before; findings are
reported for the new range only. A range whose checks do not all pass is not written at all:
the store stays byte for byte as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import polars as pl

from quant_engine.data.calendars import TradingCalendar, calendar_for
from quant_engine.data.quality import (
    Finding,
    calendar_gaps,
    duplicate_bars,
    missing_symbols,
    off_calendar_bars,
    ohlc_inconsistencies,
    schema_problems,
    stale_symbols,
    unexplained_jumps,
)
from quant_engine.data.sources.base import BarSource
from quant_engine.data.store import BarStore, bar_day


@dataclass(frozen=True)
class IngestConfig:
    """The calendar the sessions follow and the thresholds of the checks."""

    calendar: str = "XNYS"
    max_abs_return: float = 0.5  # a close-to-close move beyond this needs a corporate action
    max_flat_bars: int = 5  # this many identical bars in a row make a symbol stale
    lookback_days: int = 10  # stored calendar days read before the range, for continuity
    split_tolerance: float = 0.03  # a move this close to a split ratio (2, 3/2, ...) is a jump
    # A symbol the source does not return: "fail" the missing_symbols check (nothing is
    # written), "keep" its stored bars, or "drop" them (replace its history by nothing).
    missing_symbols: Literal["fail", "keep", "drop"] = "fail"


@dataclass(frozen=True)
class IngestResult:
    """The range's bars, its sessions and what the checks found."""

    bars: pl.DataFrame
    sessions: list[date]
    findings: list[Finding]
    missing: list[str] = field(default_factory=list)  # symbols kept or dropped by the policy

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)


def _in_range(frame: pl.DataFrame, column: str, start: date, end: date) -> pl.DataFrame:
    if frame.height == 0:
        return frame
    value = pl.col(column)
    if isinstance(frame.schema[column], pl.Datetime):
        value = bar_day(column)
    return frame.filter(value.is_between(start, end, closed="left"))


def check_range(
    bars: pl.DataFrame,
    start: date,
    end: date,
    calendar: TradingCalendar,
    config: IngestConfig,
    history: pl.DataFrame | None = None,
    actions: pl.DataFrame | None = None,
) -> list[Finding]:
    """Every check on ``bars`` (sessions ``start <= day < end``), ``history`` as context."""
    context = bars if history is None or history.height == 0 else pl.concat([history, bars])
    jumps = unexplained_jumps(context, config.max_abs_return, actions, config.split_tolerance)
    first = context.select(bar_day().min()).item() if context.height else None
    gaps = calendar_gaps(context, calendar, min(first or start, start), end)
    stale = stale_symbols(context, config.max_flat_bars)
    return [
        schema_problems(bars),
        ohlc_inconsistencies(bars),
        duplicate_bars(bars),
        Finding(gaps.check, _in_range(gaps.rows, "day", start, end)),
        off_calendar_bars(bars, calendar),
        Finding(stale.check, _in_range(stale.rows, "until", start, end)),
        Finding(jumps.check, _in_range(jumps.rows, "timestamp", start, end)),
    ]


def fetch_range(
    source: BarSource,
    start: date,
    end: date,
    config: IngestConfig | None = None,
    symbols: list[str] | None = None,
    actions: pl.DataFrame | None = None,
    history: pl.DataFrame | None = None,
    stored: pl.DataFrame | None = None,
) -> IngestResult:
    """Fetch sessions ``start <= day < end`` and check them, ``history`` (the bars just before
    ``start``) as context and ``stored`` (the store's bars of the range) as what would be
    replaced; nothing is written. Under ``missing_symbols="keep"`` the stored bars of symbols
    the source does not return are carried into the result."""
    config = config or IngestConfig()
    calendar = calendar_for(config.calendar)
    bars = source.fetch(symbols, start, end, "1d")
    off = bars.filter(~bar_day().is_between(start, end, closed="left"))
    if off.height:
        first = off.row(0, named=True)
        raise ValueError(
            f"{source.name}: returned {off.height} bar(s) outside {start} to {end}, e.g."
            f" {first['symbol']} at {first['timestamp']}"
        )
    sessions = calendar.session_days(start, end)
    stored = stored if stored is not None else pl.DataFrame(schema=bars.schema)
    missing = missing_symbols(bars, symbols, stored, bool(sessions))
    names: list[str] = []
    if config.missing_symbols != "fail" and not missing.passed:
        names = missing.rows["symbol"].to_list()
        if config.missing_symbols == "keep":
            days = [pl.col("symbol"), bar_day().alias("_day")]
            kept = (
                stored.with_columns(bar_day().alias("_day"))
                .join(bars.select(days), on=["symbol", "_day"], how="anti")
                .select(bars.columns)
            )
            bars = pl.concat([bars, kept]).sort("symbol", "timestamp")
        missing = Finding(missing.check, missing.rows.clear())
    findings = check_range(bars, start, end, calendar, config, history, actions)
    return IngestResult(bars, sessions, [*findings, missing], names)


def ingest(
    source: BarSource,
    store: BarStore,
    start: date,
    end: date,
    config: IngestConfig | None = None,
    symbols: list[str] | None = None,
    actions: pl.DataFrame | None = None,
) -> IngestResult:
    """Fetch, check and commit sessions ``start <= day < end`` (one partition per session;
    a session without bars is stored empty), all days and ``actions`` (when given) in one
    commit. The stored days before ``start`` are the checks' context.

    When a check fails nothing is written: the findings tell the caller what and where.
    """
    config = config or IngestConfig()
    history = store.scan(start - timedelta(days=config.lookback_days), start).collect()
    stored = store.read(start, end)
    result = fetch_range(source, start, end, config, symbols, actions, history, stored)
    if result.passed:
        store.write(result.bars, days=result.sessions, actions=actions)
    return result
