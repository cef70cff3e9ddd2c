"""DatabentoSource through the real ``databento.Historical`` client against our HTTPS stand-in."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from quant_engine.data.schema import BAR_SCHEMA, validate_bars
from quant_engine.data.sources import DatabentoConfig, DatabentoSource, RetryPolicy, SourceError
from quant_engine.data.sources.databento import TRADE_SCHEMA
from tests.quant_engine.data.sources.conftest import DATABENTO_KEY, DATASET
from tests.stand_ins.databento import Bar, Trade, daily

DAYS = [date(2024, 1, 2) + timedelta(d) for d in range(6)]  # Jan 2..7


def source(server, sleeps, **config) -> DatabentoSource:
    retry = config.pop("retry", RetryPolicy(max_attempts=3, backoff_s=0.5))
    cfg = DatabentoConfig(dataset=DATASET, gateway=server.url, retry=retry, **config)
    return DatabentoSource(cfg, api_key=DATABENTO_KEY, sleep=sleeps)


@pytest.fixture
def market(databento_server):
    """Daily bars for AAPL and MSFT on Jan 2..7, 2024."""
    for i, symbol in enumerate(["AAPL", "MSFT"]):
        bars = [daily(d, 100.0 * (i + 1) + k) for k, d in enumerate(DAYS)]
        databento_server.bars["ohlcv-1d"][symbol] = bars
    return databento_server


def test_daily_bars_are_canonical_scaled_and_labelled_by_session(market, sleeps):
    bars = source(market, sleeps).fetch(["MSFT", "AAPL"], date(2024, 1, 3), date(2024, 1, 6))
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert validate_bars(bars).equals(bars)
    assert bars["symbol"].to_list() == ["AAPL"] * 3 + ["MSFT"] * 3
    assert bars["timestamp"].dt.date().to_list() == [date(2024, 1, d) for d in (3, 4, 5)] * 2
    assert (bars["timestamp"].dt.hour() == 0).all()  # session labels at midnight UTC
    assert bars.filter(pl.col("symbol") == "MSFT")["close"].to_list() == [201.0, 202.0, 203.0]
    assert bars["open"][0] == pytest.approx(101.0 * 0.99)
    (form,) = market.range_requests()
    assert (form["schema"], form["dataset"], form["symbols"]) == ("ohlcv-1d", DATASET, "MSFT,AAPL")
    assert form["start"].startswith("2024-01-03T00:00:00") and form["end"].startswith("2024-01-06")


def test_requests_are_chunked_by_the_symbol_limit(market, sleeps):
    universe = [f"S{i:04d}" for i in range(2_001)] + ["AAPL"]
    bars = source(market, sleeps).fetch(universe, DAYS[0], DAYS[-1])
    assert [len(f["symbols"].split(",")) for f in market.range_requests()] == [2_000, 2]
    assert bars["symbol"].unique().to_list() == ["AAPL"]

    small = source(market, sleeps, chunk_size=1).fetch(["AAPL", "MSFT"], DAYS[0], DAYS[2])
    assert [f["symbols"] for f in market.range_requests()[2:]] == ["AAPL", "MSFT"]
    assert small.height == 4


def test_rate_limit_waits_for_retry_after_then_succeeds(market, sleeps):
    market.inject(429, {"detail": "Too many requests"}, **{"Retry-After": "7"})
    bars = source(market, sleeps).fetch(["AAPL"], DAYS[0], DAYS[-1])
    assert sleeps == [7.0]
    assert bars.height == 5
    assert len(market.range_requests()) == 2


def test_server_errors_back_off_then_succeed(market, sleeps):
    market.inject(503, {"detail": "unavailable"}, times=2)
    bars = source(market, sleeps).fetch(["AAPL"], DAYS[0], DAYS[1])
    assert sleeps == [0.5, 1.0]
    assert bars["close"].to_list() == [100.0]


def test_exhausted_retries_raise_one_clear_error(market, sleeps):
    market.inject(502, {"detail": "bad gateway"}, times=3)
    with pytest.raises(
        SourceError, match=r"^databento: ohlcv-1d .* failed after 3 attempts: HTTP 502"
    ):
        source(market, sleeps).fetch(["AAPL"], DAYS[0], DAYS[1])


def test_bad_key_fails_at_once_without_leaking_it(market, sleeps, caplog):
    secret = "db-WRONG-SECRET-9f8e7d6c5b4a"
    cfg = DatabentoConfig(dataset=DATASET, gateway=market.url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as raised:
        DatabentoSource(cfg, api_key=secret, sleep=sleeps).fetch(["AAPL"], DAYS[0], DAYS[1])
    assert "databento" in str(raised.value) and "authentication failed (HTTP 401)" in str(
        raised.value
    )
    assert len(market.range_requests()) == 1 and sleeps == []
    assert secret not in str(raised.value) and secret not in repr(raised.value.__cause__)
    assert secret not in caplog.text
    assert secret not in repr(DatabentoSource(cfg, api_key=secret))


def test_unknown_dataset_surfaces_the_servers_message(market, sleeps):
    cfg = DatabentoConfig(dataset="NOPE.ITCH", gateway=market.url)
    with pytest.raises(
        SourceError, match=r"databento: .* HTTP 422: dataset_invalid; Unknown dataset"
    ):
        DatabentoSource(cfg, api_key=DATABENTO_KEY, sleep=sleeps).fetch(["AAPL"], DAYS[0], DAYS[1])


def test_empty_range_gives_the_empty_schema(market, sleeps):
    src = source(market, sleeps)
    empty = src.fetch(["AAPL"], date(2023, 6, 1), date(2023, 6, 5))
    assert empty.height == 0 and empty.schema == pl.Schema(BAR_SCHEMA)
    assert src.fetch(["AAPL"], DAYS[0], DAYS[0]).height == 0  # start == end: nothing asked
    assert len(market.range_requests()) == 1
    with pytest.raises(ValueError, match="end 2024-01-01 is before start 2024-01-02"):
        src.fetch(["AAPL"], DAYS[0], date(2024, 1, 1))


def test_symbols_without_data_are_absent_and_reported(market, sleeps, caplog):
    caplog.set_level(logging.WARNING)
    bars = source(market, sleeps).fetch(["AAPL", "NOSUCH"], DAYS[0], DAYS[2])
    assert bars["symbol"].unique().to_list() == ["AAPL"]
    assert "no bars for 1 symbol(s): NOSUCH" in caplog.text


def test_whole_universe_when_no_symbols_given(market, sleeps):
    bars = source(market, sleeps).fetch(None, DAYS[0], DAYS[1])
    assert bars["symbol"].to_list() == ["AAPL", "MSFT"]
    assert market.range_requests()[0]["symbols"] == "ALL_SYMBOLS"


def test_minute_bars_follow_the_session_timezone(databento_server, sleeps):
    ny_open = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)  # 09:30 New York
    late = datetime(2024, 1, 4, 0, 30, tzinfo=UTC)  # 19:30 New York on Jan 3 (after hours)
    next_day = datetime(2024, 1, 4, 14, 30, tzinfo=UTC)
    databento_server.bars["ohlcv-1m"]["AAPL"] = [
        Bar(t, 10.0, 10.5, 9.5, 10.2, 5) for t in (ny_open, late, next_day)
    ]
    src = source(databento_server, sleeps, session_timezone="America/New_York")
    bars = src.fetch(["AAPL"], date(2024, 1, 3), date(2024, 1, 4), timeframe="1m")
    assert bars["timestamp"].to_list() == [ny_open, late]
    form = databento_server.range_requests()[0]
    assert form["schema"] == "ohlcv-1m" and form["start"].startswith("2024-01-03T00:00:00-05:00")
    with pytest.raises(ValueError, match="no bar schema for timeframe '5m'"):
        src.fetch(["AAPL"], date(2024, 1, 3), date(2024, 1, 4), timeframe="5m")


def test_trades_come_as_a_trades_frame(databento_server, sleeps):
    t0 = datetime(2024, 1, 3, 15, 0, 0, 123456, tzinfo=UTC)
    databento_server.trades["AAPL"] = [
        Trade(t0, t0 + timedelta(microseconds=40), 185.25, 100, "B"),
        Trade(t0 + timedelta(seconds=1), t0 + timedelta(seconds=1, microseconds=9), 185.2, 5, "A"),
    ]
    trades = source(databento_server, sleeps).fetch_trades(
        ["AAPL", "MSFT"], date(2024, 1, 3), date(2024, 1, 4)
    )
    assert trades.schema == pl.Schema(TRADE_SCHEMA)
    assert trades["price"].to_list() == [185.25, 185.2]
    assert trades["size"].to_list() == [100.0, 5.0] and trades["side"].to_list() == ["B", "A"]
    assert trades["timestamp"][0] == t0 and trades["ts_recv"][0] == t0 + timedelta(microseconds=40)
    assert databento_server.range_requests()[0]["schema"] == "trades"
    empty = source(databento_server, sleeps).fetch_trades(
        ["AAPL"], date(2024, 2, 1), date(2024, 2, 2)
    )
    assert empty.height == 0 and empty.schema == pl.Schema(TRADE_SCHEMA)


def test_a_key_is_required():
    with pytest.raises(ValueError, match="DATABENTO_API_KEY"):
        DatabentoSource(DatabentoConfig(dataset=DATASET), api_key="")
