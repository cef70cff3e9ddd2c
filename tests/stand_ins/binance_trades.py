"""binance's recent trades (``GET /api/v3/trades``) beside its candles, for ccxt's ``fetch_trades``.

A trade is visible once the stand-in's clock has reached its time, so a test can load a whole
session up front and let the market "happen" as the clock runs. Like binance, the answer is the
most recent ``limit`` visible trades (default 500, at most 1000), oldest first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.stand_ins.binance_klines import DEFAULT_LIMIT, MAX_LIMIT, BinanceKlinesStandIn
from tests.stand_ins.server import Request, Response


@dataclass(frozen=True)
class Trade:
    id: int
    time_ms: int
    price: float
    qty: float

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "price": f"{self.price:.8f}",
            "qty": f"{self.qty:.8f}",
            "quoteQty": f"{self.price * self.qty:.8f}",
            "time": self.time_ms,
            "isBuyerMaker": self.id % 2 == 0,
            "isBestMatch": True,
        }


class BinanceTradesStandIn(BinanceKlinesStandIn):
    """Serves ``trades[market_id]`` (sorted by time) up to ``now_ms()``, and candles as its base."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        super().__init__()
        self.now_ms = now_ms
        self.trades: dict[str, list[Trade]] = {}

    def trade_requests(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests if r.path == "/api/v3/trades"]

    def answer(self, request: Request) -> Response:
        if request.path != "/api/v3/trades":
            return super().answer(request)
        q = request.query
        if q.get("symbol") not in self.listed:
            return Response.json({"code": -1121, "msg": "Invalid symbol."}, 400)
        limit = int(q.get("limit") or DEFAULT_LIMIT)
        if limit > MAX_LIMIT:
            return Response.json({"code": -1130, "msg": "Invalid limit."}, 400)
        now = self.now_ms()
        visible = [t for t in self.trades.get(q["symbol"], []) if t.time_ms <= now]
        return Response.json([t.as_json() for t in visible[-limit:]])
