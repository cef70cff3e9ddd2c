"""Alpaca: US stock bars through alpaca-py's ``StockHistoricalDataClient``.

The client follows ``next_page_token`` itself. Its own retry (a fixed 3 s wait on 429/504,
ignoring ``Retry-After``) is switched off so that :func:`call_with_retries` retries instead,
honouring the server's ``Retry-After``; a retry repeats the request of that symbol chunk.
Daily bars, which Alpaca stamps at midnight New York, are relabelled as session dates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from quant_engine.data.sources.base import Timeframe
from quant_engine.data.sources.frames import (
    canonical,
    check_range,
    chunked,
    day_bounds,
    empty_bars,
    in_range,
    note_missing,
    session_label,
)
from quant_engine.data.sources.retry import (
    Failure,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)

TIMEFRAMES: dict[str, TimeFrame] = {
    "1m": TimeFrame(1, TimeFrameUnit.Minute),
    "5m": TimeFrame(5, TimeFrameUnit.Minute),
    "15m": TimeFrame(15, TimeFrameUnit.Minute),
    "1h": TimeFrame(1, TimeFrameUnit.Hour),
    "1d": TimeFrame(1, TimeFrameUnit.Day),
}
_FIELDS = {"t": "timestamp", "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume"}


@dataclass(frozen=True)
class AlpacaConfig:
    """Which feed and adjustment to ask for, and where.

    ``adjustment`` stays ``raw`` by default: corporate actions are applied downstream, from
    their own data. ``session_timezone`` places the day boundaries of a request.
    """

    feed: str | None = None  # "iex", "sip", ...; None: the account's default
    adjustment: str = "raw"
    session_timezone: str = "America/New_York"
    url_override: str | None = None  # e.g. a proxy; None: Alpaca's data API
    chunk_size: int = 200  # symbols per request (they travel in the query string)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.feed is not None:
            DataFeed(self.feed)  # ValueError naming the bad feed
        Adjustment(self.adjustment)
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {self.chunk_size}")


def _message(body: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        return body.strip()[:200] or "no message"
    if isinstance(payload, dict) and "message" in payload:
        code = f" (code {payload['code']})" if "code" in payload else ""
        return f"{payload['message']}{code}"
    return body.strip()[:200]


def explain_alpaca_error(exc: Exception) -> Failure | None:
    """Translate alpaca-py's exceptions (None: not the client's)."""
    if isinstance(exc, APIError):
        status = exc.status_code
        message = _message(str(exc))
        if status in (401, 403):
            return Failure(f"authentication failed (HTTP {status}): {message}", False)
        retryable = status is not None and (status == 429 or status >= 500)
        headers: Any = exc.response.headers if exc.response is not None else {}
        wait = parse_retry_after(headers.get("Retry-After")) if retryable else None
        return Failure(f"HTTP {status}: {message}", retryable, wait)
    if isinstance(exc, requests.RequestException):
        return Failure(f"connection failed: {type(exc).__name__}", True)
    return None


class AlpacaSource:
    """US stock bars from Alpaca's market-data API, behind :class:`BarSource`."""

    name = "alpaca"

    def __init__(
        self,
        config: AlpacaConfig,
        api_key: str,
        secret_key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key or not secret_key:
            raise ValueError(
                "alpaca: an API key and secret are required (APCA_API_KEY_ID, APCA_API_SECRET_KEY)"
            )
        self.config = config
        self._sleep = sleep
        self._client = StockHistoricalDataClient(
            api_key=api_key, secret_key=secret_key, raw_data=True, url_override=config.url_override
        )
        self._client._retry = 0  # we retry ourselves, honouring Retry-After (see module doc)

    def __repr__(self) -> str:
        return f"AlpacaSource(feed={self.config.feed!r}, adjustment={self.config.adjustment!r})"

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Bars for sessions ``start <= day < end`` (see :class:`BarSource`)."""
        if timeframe not in TIMEFRAMES:
            raise ValueError(
                f"alpaca: unknown timeframe {timeframe!r}; use {', '.join(TIMEFRAMES)}"
            )
        if symbols is None:
            raise ValueError(
                "alpaca: symbols are required (the bars endpoint has no universe query)"
            )
        check_range(self.name, start, end)
        if start == end or not symbols:
            return empty_bars()
        lo, hi = day_bounds(start, end, self.config.session_timezone)
        parts = [
            self._fetch_chunk(c, lo, hi, timeframe)
            for c in chunked(list(symbols), self.config.chunk_size)
        ]
        bars = in_range(pl.concat(parts), lo, hi)
        if timeframe == "1d":
            bars = bars.with_columns(
                session_label(pl.col("timestamp"), self.config.session_timezone)
            )
        note_missing(self.name, symbols, bars["symbol"].unique())
        return canonical(bars, self.name)

    def _fetch_chunk(
        self, symbols: list[str], lo: datetime, hi: datetime, timeframe: str
    ) -> pl.DataFrame:
        request = StockBarsRequest(
            symbol_or_symbols=symbols,
            timeframe=TIMEFRAMES[timeframe],
            start=lo,
            end=hi,  # Alpaca's end is inclusive: the bar at ``hi`` is dropped afterwards
            adjustment=Adjustment(self.config.adjustment),
            feed=DataFeed(self.config.feed) if self.config.feed else None,
        )
        raw = call_with_retries(
            lambda: self._client.get_stock_bars(request),
            source=self.name,
            what=f"{timeframe} bars {lo:%Y-%m-%d}..{hi:%Y-%m-%d} ({len(symbols)} symbols)",
            explain=explain_alpaca_error,
            policy=self.config.retry,
            sleep=self._sleep,
        )
        rows = [
            {"symbol": symbol, **{name: bar[key] for key, name in _FIELDS.items()}}
            for symbol, bars in (raw or {}).items()
            for bar in bars or ()
        ]
        if not rows:
            return empty_bars()
        frame = pl.DataFrame(rows, infer_schema_length=None)
        return frame.with_columns(
            pl.col("timestamp").str.to_datetime(time_unit="us", time_zone="UTC"),
            pl.col("open", "high", "low", "close", "volume").cast(pl.Float64),
        )
