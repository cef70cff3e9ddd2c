"""Aggregate intraday bars into daily or N-minute bars that respect trading sessions.

A minute bar is labelled by its start time and belongs to the session with
``open <= timestamp < close`` (bars outside every session, e.g. pre- and post-market, are
dropped). N-minute buckets are anchored at each session's open and never cross its close, so an
early close (the day after Thanksgiving on XNYS) simply ends the day with fewer buckets. A daily
bar is labelled by its session day (midnight UTC), as in the canonical schema.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from quant_engine.data.calendars import TradingCalendar
from quant_engine.data.schema import BAR_COLUMNS, BAR_SCHEMA, KEYS

_AGG = (
    pl.col("open").first(),
    pl.col("high").max(),
    pl.col("low").min(),
    pl.col("close").last(),
    pl.col("volume").sum(),
)


def label_sessions(bars: pl.DataFrame, calendar: TradingCalendar) -> pl.DataFrame:
    """``bars`` inside a session, with that session's ``day``, ``open_time`` and ``close_time``."""
    if bars.height == 0:
        return bars.with_columns(
            pl.lit(None, pl.Date).alias("day"),
            pl.lit(None, BAR_SCHEMA["timestamp"]).alias("open_time"),
            pl.lit(None, BAR_SCHEMA["timestamp"]).alias("close_time"),
        )
    first = bars["timestamp"].min().date() - timedelta(days=1)
    last = bars["timestamp"].max().date() + timedelta(days=2)
    sessions = calendar.sessions(first, last).rename({"open": "open_time", "close": "close_time"})
    return (
        bars.sort("timestamp")
        .join_asof(
            sessions.sort("open_time"),
            left_on="timestamp",
            right_on="open_time",
            strategy="backward",
            coalesce=False,
        )
        .filter(pl.col("timestamp") < pl.col("close_time"))
        .drop("early_close")
    )


def to_daily(bars: pl.DataFrame, calendar: TradingCalendar) -> pl.DataFrame:
    """One bar per (symbol, session): first open, max high, min low, last close, summed volume."""
    labelled = label_sessions(bars, calendar).sort(KEYS)
    daily = labelled.group_by("symbol", "day").agg(*_AGG)
    return (
        daily.with_columns(
            pl.col("day").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("timestamp")
        )
        .select(BAR_COLUMNS)
        .cast(BAR_SCHEMA)
        .sort(KEYS)
    )


def to_minutes(bars: pl.DataFrame, calendar: TradingCalendar, minutes: int) -> pl.DataFrame:
    """N-minute bars labelled by their start, anchored at each session's open."""
    if minutes <= 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    labelled = label_sessions(bars, calendar).sort(KEYS)
    offset = pl.col("timestamp") - pl.col("open_time")
    bucket = pl.col("open_time") + pl.duration(
        microseconds=(offset.dt.total_microseconds() // (minutes * 60_000_000))
        * (minutes * 60_000_000)
    )
    out = labelled.with_columns(bucket.alias("_bucket")).group_by("symbol", "_bucket").agg(*_AGG)
    return out.rename({"_bucket": "timestamp"}).select(BAR_COLUMNS).cast(BAR_SCHEMA).sort(KEYS)
