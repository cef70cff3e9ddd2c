"""Exchange calendars: holidays and early closes from exchange_calendars, 24/7 and 24/5."""

from datetime import UTC, date, datetime

import pytest

from quant_engine.data.calendars import CalendarError, TradingCalendar, calendar_for


def test_nyse_skips_thanksgiving_and_closes_early_the_day_after():
    sessions = calendar_for("XNYS").sessions(date(2024, 11, 25), date(2024, 12, 3))
    assert sessions["day"].to_list() == [
        date(2024, 11, 25),
        date(2024, 11, 26),
        date(2024, 11, 27),
        date(2024, 11, 29),
        date(2024, 12, 2),
    ]
    friday = sessions.filter(sessions["day"] == date(2024, 11, 29)).row(0, named=True)
    assert friday["early_close"] is True
    assert friday["open"] == datetime(2024, 11, 29, 14, 30, tzinfo=UTC)
    assert friday["close"] == datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
    assert sessions.filter(~sessions["early_close"])["close"].dt.hour().to_list() == [21] * 4


def test_crypto_trades_every_day_and_business_days_every_weekday():
    crypto = calendar_for("24/7").session_days(date(2024, 11, 29), date(2024, 12, 3))
    assert len(crypto) == 4  # Friday to Monday, weekend included
    weekdays = calendar_for("24/5").session_days(date(2024, 11, 25), date(2024, 12, 3))
    assert len(weekdays) == 6  # Thanksgiving is a session: no holidays
    assert calendar_for("24/5").is_session(date(2024, 11, 28))
    assert not calendar_for("XNYS").is_session(date(2024, 11, 28))


def test_empty_range_and_bad_names_and_out_of_range_days():
    assert calendar_for("XNYS").sessions(date(2024, 1, 2), date(2024, 1, 2)).height == 0
    with pytest.raises(CalendarError, match="unknown trading calendar 'NOPE'"):
        TradingCalendar("NOPE")
    with pytest.raises(CalendarError, match="covers"):
        calendar_for("XNYS").sessions(date(1980, 1, 2), date(1980, 2, 1))


def test_calendars_cover_the_1990s_as_far_as_the_package_allows():
    nyse = calendar_for("XNYS")
    assert nyse.session_days(date(1990, 1, 1), date(1990, 1, 5))[0] == date(1990, 1, 2)
    assert not nyse.is_session(date(1994, 4, 27))  # closed for President Nixon's funeral
    assert len(nyse.session_days(date(1995, 1, 1), date(2000, 1, 1))) == 1263
    tokyo = calendar_for("XTKS")  # exchange_calendars evaluates Tokyo from 1997 on
    assert tokyo.session_days(date(1997, 1, 1), date(1997, 1, 8))[0] == date(1997, 1, 6)
