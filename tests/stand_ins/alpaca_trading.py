"""A stand-in for the subset of Alpaca's trading API (v2) that our Alpaca broker uses.

It keeps real state (cash, positions, orders), fills market orders at the prices it is given
when the market is open, speaks decimals as strings, pages ``GET /v2/orders`` the way Alpaca
does (``limit`` at most 500, ``after``/``until`` exclusive, ``direction``) and refuses what
Alpaca refuses: a reused ``client_order_id`` (422 40010001), an opposite-side order while one is
open on the symbol (403 40310000 wash trade), a buy beyond buying power or a sell beyond the
shares held (403 40310000). Market-on-open orders (``time_in_force=opg``, market or limit)
are taken only outside 09:28-19:00 New York time, as Alpaca documents, and wait for
:meth:`AlpacaTradingStandIn.open_auction`. Faults (504, 429, timeouts) are injected through the
server.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from tests.stand_ins.trading_server import Fault, Reply, Request

ORDERS = "POST /v2/orders"
OPEN_STATUSES = {"new", "accepted", "partially_filled", "pending_new", "held"}
MAX_PAGE = 500
DEFAULT_PAGE = 50
_ORDER_PATH = re.compile(r"^/v2/orders/([0-9a-f-]{36})$")
_ASSET_PATH = re.compile(r"^/v2/assets/([A-Za-z0-9.]+)$")

DUPLICATE = {"code": 40010001, "message": "client_order_id must be unique"}
WASH_TRADE = {"code": 40310000, "message": "potential wash trade detected. use complex orders"}
NOT_FOUND = {"code": 40410000, "message": "order not found"}
UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}
SERVICE_UNAVAILABLE = {"code": 50010000, "message": "service unavailable"}
RATE_LIMITED = {"code": 42910000, "message": "rate limit exceeded"}
OPG_REFUSED = {
    "code": 42210000,
    "message": "opg orders are only accepted before 9:28am or after 7:00pm ET",
}
NEW_YORK = ZoneInfo("America/New_York")


def text(value: Decimal | None) -> str | None:
    """A decimal as Alpaca writes it: a plain string, no exponent."""
    return None if value is None else format(value.normalize(), "f")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class StandInOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    type: str
    time_in_force: str
    limit_price: Decimal | None
    submitted_at: datetime
    status: str = "new"
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    updated_at: datetime | None = None
    canceled_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": _iso(self.submitted_at),
            "updated_at": _iso(self.updated_at or self.submitted_at),
            "submitted_at": _iso(self.submitted_at),
            "filled_at": _iso(self.updated_at) if self.status == "filled" else None,
            "expired_at": None,
            "canceled_at": _iso(self.canceled_at),
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": text(self.qty),
            "filled_qty": text(self.filled_qty),
            "filled_avg_price": text(self.filled_avg_price),
            "order_class": "simple",
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": text(self.limit_price),
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }


@dataclass
class Holding:
    qty: Decimal
    cost: Decimal  # total cost basis


@dataclass
class AlpacaTradingStandIn:
    """The account behind the stand-in; tests arrange it and read it back."""

    api_key: str
    secret_key: str
    prices: dict[str, Decimal]
    cash: Decimal = Decimal("100000")
    market_open: bool = True
    now: datetime = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    tick: timedelta = timedelta(milliseconds=1)  # how far the clock moves per order
    partial_fill: dict[str, Decimal] = field(default_factory=dict)  # symbol -> share filled
    positions: dict[str, Holding] = field(default_factory=dict)
    orders: list[StandInOrder] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ----------------------------------------------------------------- arrangement helpers
    def orders_with_client_id(self, client_order_id: str) -> list[StandInOrder]:
        with self.lock:
            return [o for o in self.orders if o.client_order_id == client_order_id]

    def position_qty(self, symbol: str) -> Decimal:
        with self.lock:
            holding = self.positions.get(symbol)
            return holding.qty if holding else Decimal(0)

    def add_resting_orders(self, count: int, *, per_timestamp: int = 1) -> list[StandInOrder]:
        """Place ``count`` open limit buys far from the market, ``per_timestamp`` sharing a time."""
        created = []
        with self.lock:
            for i in range(count):
                if i % per_timestamp == 0:
                    self.now += self.tick
                order = StandInOrder(
                    id=str(uuid.uuid4()),
                    client_order_id=f"resting-{len(self.orders)}",
                    symbol="RESTING",
                    side="buy",
                    qty=Decimal(1),
                    type="limit",
                    time_in_force="gtc",
                    limit_price=Decimal("0.01"),
                    submitted_at=self.now,
                )
                self.orders.append(order)
                created.append(order)
        return created

    def open_auction(self, open_prices: dict[str, Decimal]) -> None:
        """The opening auction: fill every open OPG order at ``open_prices``, which become the
        current prices, and open the market."""
        with self.lock:
            self.prices.update(open_prices)
            self.market_open = True
            for order in self.orders:
                if order.is_open and order.time_in_force == "opg":
                    self._fill(order, order.remaining)

    def fill_open_orders(self) -> None:
        """Fill every open order in full at the current prices (e.g. after the market opened)."""
        with self.lock:
            for order in self.orders:
                if order.is_open and order.symbol in self.prices:
                    self._fill(order, order.remaining)

    # ----------------------------------------------------------------- HTTP application
    def handle(self, request: Request) -> Reply:
        if (
            request.headers.get("apca-api-key-id") != self.api_key
            or request.headers.get("apca-api-secret-key") != self.secret_key
        ):
            return Reply(401, UNAUTHORIZED)
        with self.lock:
            return self._route(request)

    def _route(self, request: Request) -> Reply:
        method, path = request.method, request.path
        if method == "GET" and path == "/v2/account":
            return Reply(200, self._account())
        if method == "GET" and path == "/v2/positions":
            return Reply(200, [self._position(s, h) for s, h in sorted(self.positions.items())])
        if method == "GET" and path == "/v2/clock":
            return Reply(200, self._clock())
        if method == "GET" and path == "/v2/assets":
            return Reply(200, [self._asset(s) for s in sorted(self.prices)])
        if method == "GET" and (match := _ASSET_PATH.match(path)):
            symbol = match.group(1)
            if symbol not in self.prices:
                return Reply(404, {"code": 40410000, "message": "asset not found"})
            return Reply(200, self._asset(symbol))
        if method == "POST" and path == "/v2/orders":
            return self._submit(request.json_body or {})
        if method == "GET" and path == "/v2/orders":
            return self._list(request.query)
        if method == "GET" and path == "/v2/orders:by_client_order_id":
            found = self.orders_with_client_id(request.query.get("client_order_id", ""))
            return Reply(200, found[0].payload()) if found else Reply(404, NOT_FOUND)
        if match := _ORDER_PATH.match(path):
            order = next((o for o in self.orders if o.id == match.group(1)), None)
            if order is None:
                return Reply(404, NOT_FOUND)
            if method == "GET":
                return Reply(200, order.payload())
            if method == "DELETE":
                if not order.is_open:
                    return Reply(422, {"code": 42210000, "message": "order is not cancelable"})
                order.status = "canceled"
                order.canceled_at = order.updated_at = self.now
                return Reply(204)
        return Reply(404, {"code": 40410000, "message": f"no route {method} {path}"})

    def _submit(self, body: dict[str, Any]) -> Reply:
        client_order_id = str(body.get("client_order_id") or uuid.uuid4())
        symbol, side, kind = body.get("symbol"), body.get("side"), body.get("type")
        tif = body.get("time_in_force")
        if self.orders_with_client_id(client_order_id):
            return Reply(422, DUPLICATE)
        if symbol not in self.prices:
            return Reply(422, {"code": 40010001, "message": f"asset {symbol} not found"})
        if side not in ("buy", "sell") or kind not in ("market", "limit"):
            return Reply(422, {"code": 40010001, "message": "invalid side or type"})
        if tif not in ("day", "gtc", "ioc", "opg"):
            return Reply(422, {"code": 40010001, "message": "invalid time_in_force"})
        local = self.now.astimezone(NEW_YORK).time()
        if tif == "opg" and "09:28" <= local.strftime("%H:%M") < "19:00":
            return Reply(422, OPG_REFUSED)
        qty = Decimal(str(body.get("qty", "0")))
        if qty <= 0:
            return Reply(422, {"code": 40010001, "message": "qty must be > 0"})
        if qty != qty.to_integral_value() and (kind != "market" or tif != "day"):
            return Reply(422, {"code": 40010001, "message": "fractional orders must be DAY orders"})
        limit = body.get("limit_price")
        limit_price = None if limit is None else Decimal(str(limit))
        if (kind == "limit") != (limit_price is not None):
            return Reply(422, {"code": 40010001, "message": "limit_price is required for limit"})
        if any(o.is_open and o.symbol == symbol and o.side != side for o in self.orders):
            return Reply(403, WASH_TRADE)
        price = limit_price if limit_price is not None else self.prices[symbol]
        if side == "buy":
            reserved = sum(
                (o.remaining * (o.limit_price or self.prices.get(o.symbol, Decimal(0))))
                for o in self.orders
                if o.is_open and o.side == "buy"
            )
            if qty * price > self.cash - reserved:
                return Reply(403, {"code": 40310000, "message": "insufficient buying power"})
        else:
            held = self.position_qty(symbol)
            reserved = sum(
                (o.remaining for o in self.orders if o.is_open and o.symbol == symbol), Decimal(0)
            )
            if qty > held - reserved:
                return Reply(
                    403,
                    {
                        "code": 40310000,
                        "message": f"insufficient qty available for order (requested: "
                        f"{text(qty)}, available: {text(held - reserved)})",
                    },
                )
        self.now += self.tick
        order = StandInOrder(
            id=str(uuid.uuid4()),
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            qty=qty,
            type=kind,
            time_in_force=tif,
            limit_price=limit_price,
            submitted_at=self.now,
            status="new" if self.market_open else "accepted",
        )
        self.orders.append(order)
        marketable = kind == "market" or (
            limit_price >= self.prices[symbol]
            if side == "buy"
            else limit_price <= self.prices[symbol]
        )
        if self.market_open and marketable and tif != "opg":
            share = self.partial_fill.get(symbol, Decimal(1))
            fill = (qty * share).to_integral_value(rounding="ROUND_DOWN") if share < 1 else qty
            if fill > 0:
                self._fill(order, fill)
        if tif == "ioc" and order.is_open:
            order.status = "canceled"
            order.canceled_at = self.now
        return Reply(200, order.payload())

    def _fill(self, order: StandInOrder, qty: Decimal) -> None:
        price = self.prices[order.symbol]
        filled_before = order.filled_qty
        order.filled_qty += qty
        order.filled_avg_price = (
            (filled_before * (order.filled_avg_price or Decimal(0)) + qty * price)
            / order.filled_qty
        ).quantize(Decimal("0.0001"))
        order.status = "filled" if order.filled_qty == order.qty else "partially_filled"
        order.updated_at = self.now
        holding = self.positions.setdefault(order.symbol, Holding(Decimal(0), Decimal(0)))
        if order.side == "buy":
            holding.qty += qty
            holding.cost += qty * price
            self.cash -= qty * price
        else:
            holding.cost -= holding.cost * qty / holding.qty
            holding.qty -= qty
            self.cash += qty * price
        if holding.qty == 0:
            del self.positions[order.symbol]

    def _list(self, query: dict[str, str]) -> Reply:
        limit = int(query.get("limit", DEFAULT_PAGE))
        if not 0 < limit <= MAX_PAGE:
            return Reply(422, {"code": 40010001, "message": f"limit must be 1 to {MAX_PAGE}"})
        status = query.get("status", "open")
        selected = [
            o
            for o in self.orders
            if status == "all"
            or (status == "open" and o.is_open)
            or (status == "closed" and not o.is_open)
        ]
        if "after" in query:
            after = _parse_time(query["after"])
            selected = [o for o in selected if o.submitted_at > after]
        if "until" in query:
            until = _parse_time(query["until"])
            selected = [o for o in selected if o.submitted_at < until]
        if "symbols" in query:
            wanted = set(query["symbols"].split(","))
            selected = [o for o in selected if o.symbol in wanted]
        if "side" in query:
            selected = [o for o in selected if o.side == query["side"]]
        descending = query.get("direction", "desc") == "desc"
        selected.sort(key=lambda o: o.submitted_at, reverse=descending)
        return Reply(200, [o.payload() for o in selected[:limit]])

    def _account(self) -> dict[str, Any]:
        market_value = sum((h.qty * self.prices[s] for s, h in self.positions.items()), Decimal(0))
        equity = self.cash + market_value
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.api_key)),
            "account_number": "PA0000000001",
            "status": "ACTIVE",
            "currency": "USD",
            "cash": text(self.cash),
            "buying_power": text(self.cash),
            "regt_buying_power": text(self.cash),
            "non_marginable_buying_power": text(self.cash),
            "portfolio_value": text(equity),
            "equity": text(equity),
            "last_equity": text(equity),
            "long_market_value": text(market_value),
            "short_market_value": "0",
            "multiplier": "1",
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "shorting_enabled": False,
        }

    def _position(self, symbol: str, holding: Holding) -> dict[str, Any]:
        price = self.prices[symbol]
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": text((holding.cost / holding.qty).quantize(Decimal("0.0001"))),
            "qty": text(holding.qty),
            "qty_available": text(holding.qty),
            "side": "long",
            "market_value": text(holding.qty * price),
            "cost_basis": text(holding.cost),
            "current_price": text(price),
            "unrealized_pl": text(holding.qty * price - holding.cost),
        }

    def _clock(self) -> dict[str, Any]:
        day = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        return {
            "timestamp": _iso(self.now),
            "is_open": self.market_open,
            "next_open": _iso(day + timedelta(days=1, hours=14, minutes=30)),
            "next_close": _iso(day + timedelta(hours=21)),
        }

    def _asset(self, symbol: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            "class": "us_equity",
            "exchange": "NASDAQ",
            "symbol": symbol,
            "name": symbol,
            "status": "active",
            "tradable": True,
            "marginable": True,
            "shortable": False,
            "easy_to_borrow": False,
            "fractionable": True,
        }


def gateway_timeout(*, after_accept: bool) -> Fault:
    """A 504 from the gateway; with ``after_accept`` the order was placed nonetheless."""
    return Fault(status=504, payload=SERVICE_UNAVAILABLE, after_accept=after_accept)


def rate_limited(*, after_accept: bool = False, retry_after: float | None = None) -> Fault:
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    return Fault(status=429, payload=RATE_LIMITED, after_accept=after_accept, headers=headers)


def no_answer(seconds: float, *, after_accept: bool = True) -> Fault:
    """Wait ``seconds`` before answering: beyond the client's timeout the client sees none."""
    return Fault(after_accept=after_accept, delay=seconds)
