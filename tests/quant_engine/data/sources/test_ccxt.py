"""CcxtSource through ccxt's real binance exchange against our loopback klines stand-in."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from quant_engine.data.schema import BAR_SCHEMA, validate_bars
from quant_engine.data.sources import CcxtConfig, CcxtSource, RetryPolicy, SourceError
from quant_engine.data.sources.ccxt import build_exchange
from tests.stand_ins.binance_klines import Candle, daily, spot_market

START = date(2023, 1, 1)
DAYS = [START + timedelta(d) for d in range(1200)]  # crosses several 500-candle pages


def source(server, sleeps, **config) -> CcxtSource:
    retry = config.pop("retry", RetryPolicy(max_attempts=3, backoff_s=0.5))
    cfg = CcxtConfig(exchange_id="binance", enable_rate_limit=False, retry=retry, **config)
    markets = [spot_market("BTC", "USDT"), spot_market("ETH", "USDT"), spot_market("SOL", "USDT")]
    exchange = server.point(build_exchange(cfg), markets)
    return CcxtSource(cfg, exchange=exchange, sleep=sleeps)


@pytest.fixture
def market(binance_server):
    binance_server.candles["1d"] = {
        "BTCUSDT": [daily(d, 20_000 + k) for k, d in enumerate(DAYS)],
        "ETHUSDT": [daily(d, 1_500 + k / 10) for k, d in enumerate(DAYS[:10])],
    }
    return binance_server


def test_pages_on_since_until_the_end_date(market, sleeps):
    end = START + timedelta(1100)
    bars = source(market, sleeps).fetch(["BTC/USDT"], START, end)
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert validate_bars(bars).equals(bars)
    assert bars.height == 1100
    assert bars["timestamp"][0] == datetime(2023, 1, 1, tzinfo=UTC)
    assert bars["timestamp"][-1] == datetime.combine(end - timedelta(1), datetime.min.time(), UTC)
    assert bars["close"][-1] == 20_000 + 1099
    starts = [int(r["startTime"]) for r in market.kline_requests()]
    day_ms = 86_400_000
    first = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp() * 1000)
    assert starts == [first, first + 500 * day_ms, first + 1000 * day_ms]  # binance: 500 a call
    assert {r["interval"] for r in market.kline_requests()} == {"1d"}


def test_a_page_limit_is_passed_to_the_exchange(market, sleeps):
    bars = source(market, sleeps, page_limit=4).fetch(["ETH/USDT"], START, START + timedelta(30))
    assert bars.height == 10  # ETH has 10 days of data
    assert [r["limit"] for r in market.kline_requests()] == ["4", "4", "4", "4"]  # 4+4+2, then []


def test_rate_limit_retries_after_the_servers_wait(market, sleeps):
    market.inject(429, {"code": -1003, "msg": "Too many requests."}, **{"Retry-After": "3"})
    bars = source(market, sleeps).fetch(["ETH/USDT"], START, START + timedelta(5))
    assert sleeps == [3.0] and bars.height == 5


def test_server_errors_back_off_and_give_up_with_one_clear_error(market, sleeps):
    market.inject(503, {"code": -1001, "msg": "Service unavailable."}, times=3)
    with pytest.raises(
        SourceError, match=r"^ccxt:binance: 1d candles of ETH/USDT .* failed after 3"
    ):
        source(market, sleeps).fetch(["ETH/USDT"], START, START + timedelta(5))
    assert sleeps == [0.5, 1.0]


def test_exchange_errors_are_not_retried(market, sleeps):
    market.inject(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    with pytest.raises(SourceError, match=r"ccxt:binance: .* authentication failed"):
        source(market, sleeps).fetch(["ETH/USDT"], START, START + timedelta(5))
    assert sleeps == []


def test_unlisted_and_empty_symbols_are_absent(market, sleeps, caplog):
    caplog.set_level(logging.WARNING)
    src = source(market, sleeps)
    bars = src.fetch(["ETH/USDT", "SOL/USDT", "DOGE/USDT"], START, START + timedelta(3))
    assert bars["symbol"].unique().to_list() == ["ETH/USDT"]
    assert "not listed on the exchange: DOGE/USDT" in caplog.text
    assert "no bars for 1 symbol(s): SOL/USDT" in caplog.text
    assert {r["symbol"] for r in market.kline_requests()} == {"ETHUSDT", "SOLUSDT"}


def test_empty_range_gives_the_empty_schema(market, sleeps):
    empty = source(market, sleeps).fetch(["BTC/USDT"], date(2020, 1, 1), date(2020, 1, 5))
    assert empty.height == 0 and empty.schema == pl.Schema(BAR_SCHEMA)


def test_unfinished_candles_are_left_out(binance_server, sleeps):
    today = datetime.now(UTC).date()
    binance_server.candles["1d"] = {
        "BTCUSDT": [daily(today - timedelta(1), 30_000), daily(today, 31_000)]
    }
    bars = source(binance_server, sleeps).fetch(
        ["BTC/USDT"], today - timedelta(1), today + timedelta(1)
    )
    assert bars["timestamp"].dt.date().to_list() == [today - timedelta(1)]


def test_minute_candles(binance_server, sleeps):
    t0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1000)
    binance_server.candles["1m"] = {
        "BTCUSDT": [Candle(t0 + k * 60_000, 10, 11, 9, 10.5, 1.0) for k in range(1_500)]
    }
    bars = source(binance_server, sleeps).fetch(
        ["BTC/USDT"], date(2024, 3, 1), date(2024, 3, 2), "1m"
    )
    assert bars.height == 1_440  # one UTC day; the 60 candles of Mar 2 are outside
    assert bars["timestamp"][1] - bars["timestamp"][0] == timedelta(minutes=1)


def test_bad_arguments(market, sleeps):
    src = source(market, sleeps)
    with pytest.raises(ValueError, match="symbols are required"):
        src.fetch(None, START, START + timedelta(1))
    with pytest.raises(ValueError, match="no timeframe '7m'"):
        src.fetch(["BTC/USDT"], START, START + timedelta(1), "7m")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown exchange id 'nope'"):
        CcxtConfig(exchange_id="nope")
    assert market.requests == []


def test_secrets_never_reach_errors_or_logs(market, sleeps, caplog):
    cfg = CcxtConfig(enable_rate_limit=False, retry=RetryPolicy(max_attempts=2, backoff_s=0))
    key, secret = "ccxt-KEY-0f0f0f0f", "ccxt-SECRET-1e1e1e1e"
    exchange = market.point(build_exchange(cfg, key, secret), [spot_market("ETH", "USDT")])
    src = CcxtSource(cfg, key, secret, exchange=exchange, sleep=sleeps)
    market.inject(500, {"code": -1000, "msg": f"echoing {secret} and {key}"}, times=2)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceError) as raised:
        src.fetch(["ETH/USDT"], START, START + timedelta(2))
    assert "***" in str(raised.value)  # the server's echo is blanked out in our messages
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("quant_engine"))
    assert "retrying" in ours
    for text in (str(raised.value), ours, repr(src)):
        assert key not in text and secret not in text
    # Candles are public: the key is not even sent (so no client debug log can show it).
    assert all(key not in str(r.headers) + r.path for r in market.requests)
