"""Alpaca's market-data API: ``GET /v2/stocks/bars`` with ``next_page_token`` paging.

Bars are answered sorted by symbol then time, at most ``page_size`` per page (Alpaca pages
across symbols the same way); ``end`` is inclusive, as Alpaca's is.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from tests.stand_ins.server import Request, Response, StandIn

NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Bar:
    t: datetime
    o: float
    h: float
    l: float  # noqa: E741 - Alpaca's own field name
    c: float
    v: int

    def as_json(self) -> dict:
        stamp = self.t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "t": stamp,
            "o": self.o,
            "h": self.h,
            "l": self.l,
            "c": self.c,
            "v": self.v,
            "n": 10,
            "vw": round((self.h + self.l + self.c) / 3, 4),
        }


def daily(day: date, close: float, volume: int = 1_000) -> Bar:
    """A daily bar stamped at midnight New York, as Alpaca stamps them."""
    stamp = datetime.combine(day, time(), NEW_YORK)
    return Bar(stamp, close * 0.99, close * 1.01, close * 0.98, close, volume)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class AlpacaStandIn(StandIn):
    """Serves ``bars[timeframe][symbol]`` (timeframe as Alpaca spells it: ``1Day``, ``1Min``)."""

    def __init__(self, key_id: str, secret: str, page_size: int = 10_000) -> None:
        super().__init__()
        self.key_id, self.secret, self.page_size = key_id, secret, page_size
        self.bars: dict[str, dict[str, list[Bar]]] = {}

    def bar_requests(self) -> list[dict[str, str]]:
        return [r.query for r in self.requests if r.path == "/v2/stocks/bars"]

    def answer(self, request: Request) -> Response:
        if request.path != "/v2/stocks/bars":
            return Response.json({"message": "Not Found"}, 404)
        if (request.headers.get("APCA-API-KEY-ID"), request.headers.get("APCA-API-SECRET-KEY")) != (
            self.key_id,
            self.secret,
        ):
            return Response.json({"code": 40110000, "message": "request is not authorized"}, 401)
        q = request.query
        if "symbols" not in q or "timeframe" not in q:
            return Response.json(
                {"code": 42210000, "message": "symbols and timeframe required"}, 422
            )
        start, end = _parse(q["start"]), _parse(q["end"])
        book = self.bars.get(q["timeframe"], {})
        matching = [
            (symbol, bar)
            for symbol in sorted(set(q["symbols"].split(",")))
            for bar in book.get(symbol, [])
            if start <= bar.t <= end
        ]
        offset = int(base64.b64decode(q["page_token"]).decode()) if q.get("page_token") else 0
        size = min(int(q.get("limit") or 1_000), self.page_size)
        page = matching[offset : offset + size]
        grouped: dict[str, list[dict]] = {}
        for symbol, bar in page:
            grouped.setdefault(symbol, []).append(bar.as_json())
        more = offset + size < len(matching)
        token = base64.b64encode(str(offset + size).encode()).decode() if more else None
        return Response.json({"bars": grouped, "next_page_token": token})
