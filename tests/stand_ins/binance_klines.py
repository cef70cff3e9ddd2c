"""binance's public candles endpoint (``GET /api/v3/klines``), for ccxt's ``fetch_ohlcv``.

Candles are answered from ``startTime`` (inclusive) up to ``endTime`` (inclusive, when given),
at most ``limit`` of them (binance's default 500, at most 1000), as binance's arrays of strings.
Markets are injected into the ccxt exchange, so ``load_markets()`` asks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import ccxt

from tests.stand_ins.server import Request, Response, StandIn

DEFAULT_LIMIT, MAX_LIMIT = 500, 1000


@dataclass(frozen=True)
class Candle:
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float

    def as_json(self, period_ms: int) -> list:
        close_ms = self.open_ms + period_ms - 1
        prices = [str(p) for p in (self.open, self.high, self.low, self.close, self.volume)]
        return [self.open_ms, *prices, close_ms, "0", 10, "0", "0", "0"]


def daily(day: date, close: float, volume: float = 12.5) -> Candle:
    ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return Candle(ms, close * 0.99, close * 1.01, close * 0.98, close, volume)


def spot_market(base: str, quote: str) -> dict:
    """A spot market as ccxt describes it, enough for candles."""
    return {
        "id": base + quote,
        "symbol": f"{base}/{quote}",
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "contract": False,
        "linear": None,
        "inverse": None,
        "active": True,
        "precision": {"amount": 1e-8, "price": 0.01},
        "limits": {"amount": {"min": None, "max": None}, "price": {"min": None, "max": None}},
        "info": {},
    }


class BinanceKlinesStandIn(StandIn):
    """Serves ``candles[interval][market_id]`` (interval as binance spells it: ``1d``, ``1m``)."""

    def __init__(self) -> None:
        super().__init__()
        self.candles: dict[str, dict[str, list[Candle]]] = {}
        self.listed: set[str] = set()  # market ids binance knows (others: "Invalid symbol")

    def kline_requests(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests if r.path == "/api/v3/klines"]

    def point(self, exchange: ccxt.Exchange, markets: list[dict]) -> ccxt.Exchange:
        """Aim every API section of ``exchange`` here and inject ``markets``."""
        for section, url in exchange.urls["api"].items():
            if isinstance(url, str):
                exchange.urls["api"][section] = self.url + urlsplit(url).path
        exchange.set_markets(markets)
        self.listed |= {m["id"] for m in markets}
        return exchange

    def answer(self, request: Request) -> Response:
        if request.path != "/api/v3/klines":
            return Response.json({"code": -1000, "msg": f"no route {request.path}"}, 404)
        q = request.query
        if q.get("symbol") not in self.listed:
            return Response.json({"code": -1121, "msg": "Invalid symbol."}, 400)
        known = self.candles.get(q.get("interval", ""), {})
        limit = int(q.get("limit") or DEFAULT_LIMIT)
        if limit > MAX_LIMIT:
            return Response.json({"code": -1130, "msg": "Invalid limit."}, 400)
        start = int(q.get("startTime") or 0)
        end = int(q["endTime"]) if "endTime" in q else None
        period = ccxt.Exchange.parse_timeframe(q["interval"]) * 1000
        chosen = [
            c
            for c in known.get(q["symbol"], [])
            if c.open_ms >= start and (end is None or c.open_ms <= end)
        ]
        return Response.json([c.as_json(period) for c in chosen[:limit]])
