"""A stand-in for the subset of binance's spot REST API (``/api/v3``) that ccxt's binance uses.

It checks the API key header and the HMAC-SHA256 signature of every private request, keeps
balances (free and locked) and orders, fills market orders at the prices it is given, applies
the LOT_SIZE, PRICE_FILTER and NOTIONAL filters, writes decimals as strings with eight places,
and refuses a ``newClientOrderId`` only while an order with it is open, as binance does (a
filled order's id is accepted again). Faults are injected through the server.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tests.stand_ins.trading_server import Fault, Reply, Request

ORDERS = "POST /api/v3/order"
EIGHT = Decimal("0.00000001")
DUPLICATE = {"code": -2010, "msg": "Duplicate order sent."}
INSUFFICIENT = {"code": -2010, "msg": "Account has insufficient balance for requested action."}
NOT_FOUND = {"code": -2013, "msg": "Order does not exist."}
UNKNOWN_ORDER = {"code": -2011, "msg": "Unknown order sent."}
TOO_MANY = {"code": -1003, "msg": "Too many requests."}
OPEN = {"NEW", "PARTIALLY_FILLED"}


def text(value: Decimal) -> str:
    return format(value.quantize(EIGHT), "f")


@dataclass(frozen=True)
class Market:
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal

    @property
    def id(self) -> str:
        return self.base + self.quote


def usdt_markets() -> list[Market]:
    """BTC/USDT and ETH/USDT with binance's filters: tick, lot step, minimum amount, notional."""
    return [
        Market(base, "USDT", Decimal("0.01"), step, step, Decimal("9000"), Decimal("5"))
        for base, step in (("BTC", Decimal("0.00001")), ("ETH", Decimal("0.0001")))
    ]


@dataclass
class StandInOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    orig_qty: Decimal
    price: Decimal
    time_in_force: str
    time: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    update_time: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def payload(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": text(self.price),
            "origQty": text(self.orig_qty),
            "executedQty": text(self.executed_qty),
            "cummulativeQuoteQty": text(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": text(Decimal(0)),
            "icebergQty": text(Decimal(0)),
            "time": self.time,
            "transactTime": self.time,
            "updateTime": self.update_time or self.time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": text(Decimal(0)),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


@dataclass
class BinanceSpotStandIn:
    """The account behind the stand-in; tests arrange it and read it back."""

    api_key: str
    secret: str
    markets: list[Market]
    prices: dict[str, Decimal]  # by market id ("BTCUSDT")
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    partial_fill: dict[str, Decimal] = field(default_factory=dict)  # market id -> share filled
    orders: list[StandInOrder] = field(default_factory=list)
    now_ms: int = 1_767_625_200_000  # 2026-01-05T15:00Z
    lock: threading.RLock = field(default_factory=threading.RLock)

    # ----------------------------------------------------------------- arrangement helpers
    def orders_with_client_id(self, client_order_id: str) -> list[StandInOrder]:
        with self.lock:
            return [o for o in self.orders if o.client_order_id == client_order_id]

    def total(self, asset: str) -> Decimal:
        with self.lock:
            return self.free.get(asset, Decimal(0)) + self.locked.get(asset, Decimal(0))

    # ----------------------------------------------------------------- HTTP application
    def handle(self, request: Request) -> Reply:
        path = request.path
        with self.lock:
            if request.method == "GET" and path == "/api/v3/exchangeInfo":
                return Reply(200, self._exchange_info())
            if request.method == "GET" and path == "/api/v3/ticker/24hr":
                return self._tickers(request.query)
            if not self._authentic(request):
                return Reply(
                    401, {"code": -1022, "msg": "Signature for this request is not valid."}
                )
            params = {**request.query, **request.form}
            if request.method == "POST" and path == "/api/v3/order":
                return self._create(params)
            if request.method == "GET" and path == "/api/v3/order":
                order = self._find(params)
                return Reply(200, order.payload()) if order else Reply(400, NOT_FOUND)
            if request.method == "DELETE" and path == "/api/v3/order":
                return self._cancel(params)
            if request.method == "GET" and path == "/api/v3/openOrders":
                symbol = params.get("symbol")
                return Reply(
                    200,
                    [
                        o.payload()
                        for o in self.orders
                        if o.is_open and (symbol is None or o.symbol == symbol)
                    ],
                )
            if request.method == "GET" and path == "/api/v3/account":
                return Reply(200, self._account())
        return Reply(404, {"code": -1000, "msg": f"no route {request.method} {path}"})

    def _authentic(self, request: Request) -> bool:
        if request.headers.get("x-mbx-apikey") != self.api_key:
            return False
        signed = request.raw_body if request.method == "POST" else request.raw_query
        payload, marker, signature = signed.rpartition("&signature=")
        if not marker:
            return False
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def _market(self, market_id: str) -> Market | None:
        return next((m for m in self.markets if m.id == market_id), None)

    def _create(self, params: dict[str, str]) -> Reply:
        market = self._market(params.get("symbol", ""))
        if market is None:
            return Reply(400, {"code": -1121, "msg": "Invalid symbol."})
        cid = params.get("newClientOrderId") or f"auto-{len(self.orders)}"
        if any(o.is_open and o.client_order_id == cid for o in self.orders):
            return Reply(400, DUPLICATE)
        side, kind = params.get("side"), params.get("type")
        qty = Decimal(params.get("quantity", "0"))
        if qty < market.min_qty or qty > market.max_qty or qty % market.step:
            return Reply(400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"})
        last = self.prices[market.id]
        price = Decimal(params["price"]) if kind == "LIMIT" else Decimal(0)
        if kind == "LIMIT" and price % market.tick:
            return Reply(400, {"code": -1013, "msg": "Filter failure: PRICE_FILTER"})
        reference = price if kind == "LIMIT" else last
        if qty * reference < market.min_notional:
            return Reply(400, {"code": -1013, "msg": "Filter failure: NOTIONAL"})
        if side == "BUY" and qty * reference > self.free.get(market.quote, Decimal(0)):
            return Reply(400, INSUFFICIENT)
        if side == "SELL" and qty > self.free.get(market.base, Decimal(0)):
            return Reply(400, INSUFFICIENT)
        self.now_ms += 1
        order = StandInOrder(
            order_id=len(self.orders) + 1,
            client_order_id=cid,
            symbol=market.id,
            side=side,
            type=kind,
            orig_qty=qty,
            price=price,
            time_in_force=params.get("timeInForce", "GTC"),
            time=self.now_ms,
        )
        self.orders.append(order)
        marketable = kind == "MARKET" or (price >= last if side == "BUY" else price <= last)
        share = self.partial_fill.get(market.id, Decimal(1)) if marketable else Decimal(0)
        fill = (qty * share / market.step).to_integral_value(ROUND_DOWN) * market.step
        if fill > 0:
            self._trade(order, market, fill, last)
        if order.executed_qty < qty:
            if kind == "MARKET" or order.time_in_force == "IOC":
                order.status = "EXPIRED"  # no more liquidity: the rest is not working
            else:
                self._lock_funds(order, market, qty - order.executed_qty)
        return Reply(200, {**order.payload(), "fills": []})

    def _trade(self, order: StandInOrder, market: Market, qty: Decimal, price: Decimal) -> None:
        order.executed_qty += qty
        order.quote_qty += qty * price
        order.status = "FILLED" if order.executed_qty == order.orig_qty else "PARTIALLY_FILLED"
        order.update_time = self.now_ms
        sign = 1 if order.side == "BUY" else -1
        self.free[market.base] = self.free.get(market.base, Decimal(0)) + sign * qty
        self.free[market.quote] = self.free.get(market.quote, Decimal(0)) - sign * qty * price

    def _lock_funds(self, order: StandInOrder, market: Market, qty: Decimal) -> None:
        asset, amount = (
            (market.quote, qty * order.price) if order.side == "BUY" else (market.base, qty)
        )
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def _find(self, params: dict[str, str]) -> StandInOrder | None:
        matches = [
            o
            for o in self.orders
            if o.symbol == params.get("symbol")
            and (
                ("orderId" in params and str(o.order_id) == params["orderId"])
                or (
                    "origClientOrderId" in params
                    and o.client_order_id == params["origClientOrderId"]
                )
            )
        ]
        return matches[-1] if matches else None

    def _cancel(self, params: dict[str, str]) -> Reply:
        order = self._find(params)
        if order is None or not order.is_open:
            return Reply(400, UNKNOWN_ORDER)
        market = self._market(order.symbol)
        assert market is not None
        rest = order.orig_qty - order.executed_qty
        asset, amount = (
            (market.quote, rest * order.price) if order.side == "BUY" else (market.base, rest)
        )
        self.locked[asset] -= amount
        self.free[asset] += amount
        order.status = "CANCELED"
        return Reply(200, order.payload())

    def _account(self) -> dict[str, Any]:
        assets = sorted(set(self.free) | set(self.locked))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": self.now_ms,
            "accountType": "SPOT",
            "permissions": ["SPOT"],
            "balances": [
                {
                    "asset": a,
                    "free": text(self.free.get(a, Decimal(0))),
                    "locked": text(self.locked.get(a, Decimal(0))),
                }
                for a in assets
            ],
        }

    def _tickers(self, query: dict[str, str]) -> Reply:
        def ticker(market_id: str) -> dict[str, Any]:
            last = text(self.prices[market_id])
            return {
                "symbol": market_id,
                "lastPrice": last,
                "bidPrice": last,
                "askPrice": last,
                "openPrice": last,
                "highPrice": last,
                "lowPrice": last,
                "volume": "0",
                "quoteVolume": "0",
                "openTime": self.now_ms - 86_400_000,
                "closeTime": self.now_ms,
            }

        if "symbol" in query:
            return Reply(200, ticker(query["symbol"]))
        wanted = query.get("symbols")
        ids = [m.id for m in self.markets]
        if wanted:
            ids = [s.strip('"') for s in wanted.strip("[]").split(",")]
        return Reply(200, [ticker(i) for i in ids])

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.now_ms,
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": [
                {
                    "symbol": m.id,
                    "status": "TRADING",
                    "baseAsset": m.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": m.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "permissions": ["SPOT"],
                    "permissionSets": [["SPOT"]],
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": text(m.tick),
                            "maxPrice": "1000000.00000000",
                            "tickSize": text(m.tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": text(m.min_qty),
                            "maxQty": text(m.max_qty),
                            "stepSize": text(m.step),
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": text(m.min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                }
                for m in self.markets
            ],
        }


def gateway_timeout(*, after_accept: bool) -> Fault:
    """A 504 without a body; binance says the outcome of such a request is unknown."""
    return Fault(status=504, after_accept=after_accept)


def rate_limited(*, after_accept: bool = False) -> Fault:
    return Fault(status=429, payload=TOO_MANY, after_accept=after_accept)


def no_answer(seconds: float, *, after_accept: bool = True) -> Fault:
    return Fault(after_accept=after_accept, delay=seconds)
