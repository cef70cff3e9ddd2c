"""Small helpers the vendor sources share: date ranges, session labels, canonical output."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import polars as pl

from quant_engine.data.schema import BAR_COLUMNS, BAR_SCHEMA, validate_bars

log = logging.getLogger(__name__)


def empty_bars() -> pl.DataFrame:
    """A bar frame with the canonical schema and no rows."""
    return pl.DataFrame(schema=BAR_SCHEMA)


def check_range(source: str, start: date, end: date) -> None:
    """Reject a reversed range (``start`` inclusive, ``end`` exclusive)."""
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise TypeError(f"{source}: start and end are dates (sessions), got {start!r}, {end!r}")
    if end < start:
        raise ValueError(f"{source}: end {end} is before start {start}")


def day_bounds(start: date, end: date, timezone: str) -> tuple[datetime, datetime]:
    """Midnight of ``start`` and of ``end`` in ``timezone``, as aware datetimes."""
    zone = ZoneInfo(timezone)
    return datetime.combine(start, time(), zone), datetime.combine(end, time(), zone)


def session_label(timestamp: pl.Expr, timezone: str) -> pl.Expr:
    """Label a daily bar by its session date (midnight UTC of the date in ``timezone``)."""
    return (
        timestamp.dt.convert_time_zone(timezone)
        .dt.date()
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone("UTC")
    )


def in_range(frame: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """Rows with ``start <= timestamp < end``."""
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    return frame.filter(pl.col("timestamp").is_between(lo, hi, closed="left"))


def canonical(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Validated bars in the canonical schema, or the empty frame when there are none."""
    if frame.height == 0:
        return empty_bars()
    return validate_bars(frame.select(BAR_COLUMNS), source=source)


def note_missing(source: str, asked: Sequence[str] | None, got: Iterable[str]) -> list[str]:
    """Log (without failing) the requested symbols the source returned no bars for."""
    if asked is None:
        return []
    present = set(got)
    missing = sorted(set(asked) - present)
    if missing:
        shown = ", ".join(missing[:20]) + (
            f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        )
        log.warning("%s: no bars for %d symbol(s): %s", source, len(missing), shown)
    return missing


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    """``items`` in consecutive lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
