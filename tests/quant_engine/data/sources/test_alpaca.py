"""AlpacaSource through the real ``StockHistoricalDataClient`` against our loopback stand-in."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from quant_engine.data.schema import BAR_SCHEMA, validate_bars
from quant_engine.data.sources import AlpacaConfig, AlpacaSource, RetryPolicy, SourceError
from tests.quant_engine.data.sources.conftest import ALPACA_KEY_ID, ALPACA_SECRET
from tests.stand_ins.alpaca import Bar, daily

SESSIONS = [date(2024, 1, d) for d in (2, 3, 4, 5, 8, 9)]


def source(server, sleeps, **config) -> AlpacaSource:
    retry = config.pop("retry", RetryPolicy(max_attempts=3, backoff_s=0.25))
    cfg = AlpacaConfig(url_override=server.url, retry=retry, **config)
    return AlpacaSource(cfg, api_key=ALPACA_KEY_ID, secret_key=ALPACA_SECRET, sleep=sleeps)


@pytest.fixture
def market(alpaca_server):
    for i, symbol in enumerate(["AAPL", "MSFT"]):
        bars = [daily(d, 100.0 * (i + 1) + k) for k, d in enumerate(SESSIONS)]
        alpaca_server.bars.setdefault("1Day", {})[symbol] = bars
    return alpaca_server


def test_daily_bars_page_through_tokens_and_are_labelled_by_session(market, sleeps):
    bars = source(market, sleeps).fetch(["MSFT", "AAPL"], date(2024, 1, 3), date(2024, 1, 9))
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert validate_bars(bars).equals(bars)
    days = [date(2024, 1, d) for d in (3, 4, 5, 8)]
    assert bars["symbol"].to_list() == ["AAPL"] * 4 + ["MSFT"] * 4
    assert (
        bars["timestamp"].to_list()
        == [datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days] * 2
    )
    assert bars["close"].to_list() == [101.0, 102.0, 103.0, 104.0, 201.0, 202.0, 203.0, 204.0]
    requests = market.bar_requests()
    # 10 matching bars (Jan 9 included: Alpaca's end is inclusive) at 3 a page: 4 pages.
    assert len(requests) == 4
    assert [bool(r.get("page_token")) for r in requests] == [False, True, True, True]
    first = requests[0]
    assert (first["timeframe"], first["adjustment"]) == ("1Day", "raw")
    assert first["start"] == "2024-01-03T05:00:00+00:00"  # midnight New York
    assert market.requests[0].headers["APCA-API-KEY-ID"] == ALPACA_KEY_ID


def test_minute_bars_keep_their_utc_times(alpaca_server, sleeps):
    t0 = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
    alpaca_server.bars["5Min"] = {
        "AAPL": [Bar(t0 + timedelta(minutes=5 * k), 10, 10.5, 9.5, 10.2, 7) for k in range(8)]
    }
    bars = source(alpaca_server, sleeps).fetch(["AAPL"], date(2024, 1, 3), date(2024, 1, 4), "5m")
    assert bars["timestamp"].to_list() == [t0 + timedelta(minutes=5 * k) for k in range(8)]
    assert bars["timestamp"].dtype == pl.Datetime("us", "UTC")
    assert len(alpaca_server.bar_requests()) == 3  # 8 bars at 3 a page


def test_rate_limit_honours_retry_after(market, sleeps):
    market.inject(429, {"message": "too many requests"}, **{"Retry-After": "4"})
    bars = source(market, sleeps).fetch(["AAPL"], SESSIONS[0], SESSIONS[-1])
    assert sleeps == [4.0]
    assert bars.height == 5


def test_a_fault_in_the_middle_of_paging_repeats_the_chunk(market, sleeps):
    market.inject(429, {"message": "too many requests"}, after=2, **{"Retry-After": "1"})
    bars = source(market, sleeps).fetch(["AAPL", "MSFT"], SESSIONS[0], SESSIONS[-1])
    assert bars.height == 10 and sleeps == [1.0]
    tokens = [bool(r.get("page_token")) for r in market.bar_requests()]
    # pages 1, 2, then 3 refused; the chunk is asked again from page 1 (4 pages of 3).
    assert tokens == [False, True, True, False, True, True, True]


def test_auth_error_is_clear_and_leaks_no_secret(market, sleeps, caplog):
    secret = "alpaca-WRONG-SECRET-77aa88bb"
    caplog.set_level(logging.DEBUG)
    src = AlpacaSource(AlpacaConfig(url_override=market.url), ALPACA_KEY_ID, secret, sleep=sleeps)
    with pytest.raises(SourceError) as raised:
        src.fetch(["AAPL"], SESSIONS[0], SESSIONS[-1])
    message = str(raised.value)
    assert message.startswith("alpaca: 1d bars")
    assert "authentication failed (HTTP 401): request is not authorized (code 40110000)" in message
    assert sleeps == [] and len(market.requests) == 1
    assert secret not in message and secret not in caplog.text and secret not in repr(src)


def test_exhausted_retries_name_the_source_and_problem(market, sleeps):
    market.inject(503, {"message": "service unavailable"}, times=3)
    with pytest.raises(
        SourceError, match=r"^alpaca: .* failed after 3 attempts: HTTP 503: service"
    ):
        source(market, sleeps).fetch(["AAPL"], SESSIONS[0], SESSIONS[-1])
    assert sleeps == [0.25, 0.5]


def test_empty_range_and_unknown_symbols(market, sleeps, caplog):
    src = source(market, sleeps)
    empty = src.fetch(["AAPL"], date(2023, 7, 1), date(2023, 7, 8))
    assert empty.height == 0 and empty.schema == pl.Schema(BAR_SCHEMA)
    caplog.set_level(logging.WARNING)
    bars = src.fetch(["AAPL", "ZZZZ"], SESSIONS[0], SESSIONS[2])
    assert bars["symbol"].unique().to_list() == ["AAPL"]
    assert "no bars for 1 symbol(s): ZZZZ" in caplog.text


def test_symbols_are_chunked(market, sleeps):
    bars = source(market, sleeps, chunk_size=1).fetch(["AAPL", "MSFT"], SESSIONS[0], SESSIONS[1])
    assert [r["symbols"] for r in market.bar_requests()] == ["AAPL", "MSFT"]
    assert bars["symbol"].to_list() == ["AAPL", "MSFT"]


def test_bad_arguments_fail_before_any_request(market, sleeps):
    src = source(market, sleeps)
    with pytest.raises(ValueError, match="symbols are required"):
        src.fetch(None, SESSIONS[0], SESSIONS[1])
    with pytest.raises(ValueError, match="unknown timeframe '2h'"):
        src.fetch(["AAPL"], SESSIONS[0], SESSIONS[1], "2h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'nope' is not a valid DataFeed"):
        AlpacaConfig(feed="nope")
    assert market.requests == []
