"""ccxt: OHLCV candles from any exchange ccxt supports, paged on ``since`` until the end date.

ccxt's own ``paginate`` stops after a fixed number of calls and, without ``until``, can start
late, so the paging is ours: ask from ``since``, move ``since`` past the last candle received,
stop at the end of the range or when the exchange has nothing more. ccxt throttles calls itself
(``enableRateLimit``); 429s (honouring ``Retry-After``) and network errors are retried. Candles
whose period has not ended yet are left out: their values are not final.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ccxt
import polars as pl

from quant_engine.data.sources.base import Timeframe
from quant_engine.data.sources.frames import (
    canonical,
    check_range,
    day_bounds,
    empty_bars,
    note_missing,
    session_label,
)
from quant_engine.data.sources.retry import (
    Failure,
    RetryPolicy,
    call_with_retries,
    parse_retry_after,
)

log = logging.getLogger(__name__)
CANDLE_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class CcxtConfig:
    """Which exchange to ask, and how many candles a call."""

    exchange_id: str = "binance"
    page_limit: int | None = None  # candles per call; None: the exchange's default
    enable_rate_limit: bool = True  # ccxt's own throttle between calls
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.exchange_id not in ccxt.exchanges:
            raise ValueError(f"ccxt: unknown exchange id {self.exchange_id!r}")
        if self.page_limit is not None and self.page_limit < 1:
            raise ValueError(f"page_limit must be positive, got {self.page_limit}")


def build_exchange(
    config: CcxtConfig, api_key: str | None = None, secret: str | None = None
) -> ccxt.Exchange:
    """A ccxt exchange for ``config`` (keys only where given; public candles need none)."""
    options: dict[str, Any] = {"enableRateLimit": config.enable_rate_limit}
    if api_key:
        options["apiKey"] = api_key
    if secret:
        options["secret"] = secret
    return getattr(ccxt, config.exchange_id)(options)


class CcxtSource:
    """Candles from a ccxt exchange, behind :class:`BarSource`; symbols are ccxt's (BTC/USDT)."""

    def __init__(
        self,
        config: CcxtConfig,
        api_key: str | None = None,
        secret: str | None = None,
        *,
        exchange: ccxt.Exchange | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.name = f"ccxt:{config.exchange_id}"
        self.exchange = (
            exchange if exchange is not None else build_exchange(config, api_key, secret)
        )
        self._secrets = [s for s in (api_key, secret) if s]
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"CcxtSource(exchange_id={self.config.exchange_id!r})"

    def explain(self, exc: Exception) -> Failure | None:
        """Translate ccxt's exceptions (None: not ccxt's); secrets are blanked out."""
        if not isinstance(exc, ccxt.BaseError):
            return None
        text = str(exc) or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        kind = type(exc).__name__
        if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied):
            return Failure(f"authentication failed ({kind}): {text}", False)
        if isinstance(exc, ccxt.DDoSProtection):  # RateLimitExceeded is one
            headers = self.exchange.last_response_headers or {}
            return Failure(f"{kind}: {text}", True, parse_retry_after(headers.get("Retry-After")))
        # ccxt's OperationFailed (NetworkError among them) is "may work if repeated".
        return Failure(f"{kind}: {text}", isinstance(exc, ccxt.OperationFailed))

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        return call_with_retries(
            call,
            source=self.name,
            what=what,
            explain=self.explain,
            policy=self.config.retry,
            sleep=self._sleep,
        )

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Candles for UTC days ``start <= day < end`` (see :class:`BarSource`)."""
        if symbols is None:
            raise ValueError(f"{self.name}: symbols are required (e.g. 'BTC/USDT')")
        if timeframe not in (self.exchange.timeframes or {}):
            offered = ", ".join(self.exchange.timeframes or {}) or "none"
            raise ValueError(f"{self.name}: no timeframe {timeframe!r} (it offers: {offered})")
        check_range(self.name, start, end)
        if start == end or not symbols:
            return empty_bars()
        markets = self._call("load markets", self.exchange.load_markets)
        listed = [s for s in symbols if s in markets]
        unlisted = sorted(set(symbols) - set(listed))
        if unlisted:
            log.warning("%s: not listed on the exchange: %s", self.name, ", ".join(unlisted))
        lo, hi = (int(t.timestamp() * 1000) for t in day_bounds(start, end, "UTC"))
        period = self.exchange.parse_timeframe(timeframe) * 1000
        frames = [self._candles(s, timeframe, lo, hi, period) for s in dict.fromkeys(listed)]
        bars = pl.concat(frames) if frames else empty_bars()
        if timeframe == "1d":
            bars = bars.with_columns(session_label(pl.col("timestamp"), "UTC"))
        note_missing(self.name, listed, bars["symbol"].unique())
        return canonical(bars, self.name)

    def _candles(self, symbol: str, timeframe: str, lo: int, hi: int, period: int) -> pl.DataFrame:
        """Page one symbol's candles over ``[lo, hi)`` (epoch ms), dropping unfinished ones."""
        now = self.exchange.milliseconds()
        rows: list[list[Any]] = []
        since = lo
        while since < hi:
            what = f"{timeframe} candles of {symbol} from {self.exchange.iso8601(since)}"
            batch = self._call(
                what,
                lambda since=since: self.exchange.fetch_ohlcv(
                    symbol, timeframe, since=since, limit=self.config.page_limit
                ),
            )
            fresh = [c for c in batch or () if c[0] >= since]
            if not fresh:
                break
            rows += [c[:6] for c in fresh if c[0] < hi and c[0] + period <= now]
            since = max(c[0] for c in fresh) + period
        if not rows:
            return empty_bars()
        frame = pl.DataFrame(rows, schema=CANDLE_COLUMNS, orient="row", infer_schema_length=None)
        return frame.select(
            pl.lit(symbol).alias("symbol"),
            pl.from_epoch(pl.col("timestamp").cast(pl.Int64), time_unit="ms")
            .dt.replace_time_zone("UTC")
            .cast(pl.Datetime("us", "UTC")),
            *(pl.col(c).cast(pl.Float64) for c in CANDLE_COLUMNS[1:]),
        )
