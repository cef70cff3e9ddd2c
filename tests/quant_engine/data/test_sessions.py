"""Minute bars to daily and N-minute bars within sessions, early closes included."""

from datetime import UTC, date, datetime, timedelta

import polars as pl

from quant_engine.data.calendars import calendar_for
from quant_engine.data.schema import BAR_SCHEMA
from quant_engine.data.sessions import to_daily, to_minutes


def _minutes(symbol: str, first: datetime, count: int, price: float = 100.0) -> pl.DataFrame:
    stamps = [first + timedelta(minutes=i) for i in range(count)]
    prices = [price + i * 0.01 for i in range(count)]
    return pl.DataFrame(
        {
            "symbol": [symbol] * count,
            "timestamp": stamps,
            "open": prices,
            "high": [p + 0.05 for p in prices],
            "low": [p - 0.05 for p in prices],
            "close": [p + 0.01 for p in prices],
            "volume": [10.0] * count,
        }
    ).cast(BAR_SCHEMA)


def _nyse_minutes() -> pl.DataFrame:
    # Wednesday: pre-market from 13:00 UTC, regular 14:30-21:00 UTC, after-hours to 22:00.
    wednesday = _minutes("A", datetime(2024, 11, 27, 13, 0, tzinfo=UTC), 9 * 60)
    # Friday after Thanksgiving: the session ends at 18:00 UTC; trade until 19:00 anyway.
    friday = _minutes("A", datetime(2024, 11, 29, 14, 30, tzinfo=UTC), 270, price=200.0)
    return pl.concat([friday, wednesday])  # out of order on purpose


def test_daily_bars_keep_regular_hours_and_stop_at_the_early_close():
    daily = to_daily(_nyse_minutes(), calendar_for("XNYS"))
    assert daily["timestamp"].dt.date().to_list() == [date(2024, 11, 27), date(2024, 11, 29)]
    wed, fri = daily.rows(named=True)
    # Regular session minutes 90 .. 479 of the Wednesday series (14:30 .. 20:59 UTC).
    assert wed["open"] == 100.0 + 90 * 0.01
    assert round(wed["close"], 6) == round(100.0 + 479 * 0.01 + 0.01, 6)
    assert wed["volume"] == 390 * 10.0
    assert fri["volume"] == 210 * 10.0  # 14:30 .. 17:59 UTC only
    assert round(fri["close"], 6) == round(200.0 + 209 * 0.01 + 0.01, 6)
    assert round(fri["high"], 6) == round(200.0 + 209 * 0.01 + 0.05, 6)


def test_n_minute_bars_are_anchored_at_the_open_and_never_cross_the_close():
    bars = to_minutes(_nyse_minutes(), calendar_for("XNYS"), 60)
    wed = bars.filter(pl.col("timestamp").dt.day() == 27)
    fri = bars.filter(pl.col("timestamp").dt.day() == 29)
    assert wed["timestamp"].dt.strftime("%H:%M").to_list() == [
        "14:30", "15:30", "16:30", "17:30", "18:30", "19:30", "20:30",
    ]  # fmt: skip
    assert wed["volume"].to_list() == [600.0] * 6 + [300.0]  # the last hour is half an hour
    assert fri["timestamp"].dt.strftime("%H:%M").to_list() == ["14:30", "15:30", "16:30", "17:30"]
    assert fri["volume"].to_list() == [600.0] * 3 + [300.0]  # cut at the 18:00 early close


def test_crypto_days_run_midnight_to_midnight_utc_weekends_included():
    first = datetime(2024, 11, 30, 22, 0, tzinfo=UTC)  # Saturday 22:00 to Sunday 02:00
    daily = to_daily(_minutes("BTC-USD", first, 240), calendar_for("24/7"))
    assert daily["timestamp"].dt.date().to_list() == [date(2024, 11, 30), date(2024, 12, 1)]
    assert daily["volume"].to_list() == [1200.0, 1200.0]
