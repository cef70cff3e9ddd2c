"""raw_bars' partitions: one per weekday, keyed ``YYYY-MM-DD``, from ``QUANT_FIRST_BAR_DAY`` to
``QUANT_LAST_BAR_DAY``.

A partition covers its time window: a weekday's window ends at the next weekday, so Friday's
holds the weekend as well (crypto's Saturday and Sunday sessions land there, one stored file per
day). Exchange holidays are partitions whose window has no session: they are stored empty.

``QUANT_LAST_BAR_DAY`` is a date (the last partition), ``today`` (live sources: the current
day's partition exists from midnight UTC, for the evening schedule) or, by default,
``synthetic``: the last session of the default synthetic market starting at the first bar day,
so that no partition lies beyond the data and "Latest" is a day with bars.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg

from quant_assets.resources.market_data import MarketDataResource

FIRST_BAR_DAY = os.environ.get("QUANT_FIRST_BAR_DAY", "2016-01-04")
LAST_BAR_DAY = os.environ.get("QUANT_LAST_BAR_DAY", "synthetic")
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def last_partition_day(setting: str = LAST_BAR_DAY, first: str = FIRST_BAR_DAY) -> date | None:
    """The last partition's day for a ``QUANT_LAST_BAR_DAY`` value (None: open-ended)."""
    if setting == "today":
        return None
    if setting == "synthetic":
        return MarketDataResource(start=first).available_days()[1]
    try:
        return date.fromisoformat(setting)
    except ValueError:
        raise ValueError(
            f"QUANT_LAST_BAR_DAY={setting!r}: expected YYYY-MM-DD, 'today' or 'synthetic'"
        ) from None


def _partitions() -> dg.TimeWindowPartitionsDefinition:
    last = last_partition_day()
    if last is None:
        return dg.TimeWindowPartitionsDefinition(
            cron_schedule="0 0 * * 1-5",
            fmt="%Y-%m-%d",
            start=FIRST_BAR_DAY,
            timezone="UTC",
            end_offset=1,
        )
    # The window of the last day's partition ends at the next weekday.
    end = last + timedelta(days=1)
    while end.weekday() >= 5:
        end += timedelta(days=1)
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 0 * * 1-5",
        fmt="%Y-%m-%d",
        start=FIRST_BAR_DAY,
        end=end.isoformat(),
        timezone="UTC",
    )


trading_day_partitions = _partitions()


def partition_key(day: date) -> str:
    """The key of the partition whose window holds ``day`` (a weekend belongs to Friday)."""
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day.isoformat()


def range_tags(first: date, last: date) -> dict[str, str]:
    """Run tags materializing raw_bars for every day from ``first`` to ``last`` in one run."""
    if last < first:
        raise ValueError(f"empty partition range: {first} to {last}")
    return {RANGE_START: partition_key(first), RANGE_END: partition_key(last)}


def window_days(window: dg.TimeWindow) -> tuple[date, date]:
    """A partition window as dates ``start <= day < end``."""
    return window.start.date(), window.end.date()  # the windows are in UTC


def backfill_tags(market_data: MarketDataResource) -> dict[str, str]:
    """Run tags covering every day the (synthetic or directory) source has."""
    return range_tags(*market_data.available_days())
