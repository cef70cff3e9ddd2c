"""Per-call limit order book: price-time priority matching with one method per operation.

Rules (the batch core in ``core.py`` implements the same ones; tests hold them equal):

- A taker fills against the best opposite price first, and within a price the oldest order
  first, always at the resting (maker) order's price.
- A limit order's unfilled remainder rests (GTC) or expires (IOC); a market order never rests.
- A post-only order that would cross the opposite best price is rejected whole.
- ``modify(id, price, qty)`` sets the open quantity: at the same price with no more quantity it
  reduces in place and keeps its queue place; otherwise it is cancel/replace: the order loses
  its place and, if it now crosses, trades as a taker. A post-only order whose new price would
  cross is rejected and stays as it was.
- Cancelling or modifying an order that is filled, cancelled, expired, rejected or unknown does
  nothing and says why; reusing an order id is rejected.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from dataclasses import dataclass

from quant_engine.orderbook.types import (
    INACTIVE_REASON,
    DepthSnapshot,
    Fill,
    Level,
    Op,
    OpKind,
    OrderResult,
    OrderStatus,
    Reason,
    Side,
    TimeInForce,
)

ACTIVE = OrderStatus.ACTIVE
_BUY, _SELL = Side.BUY, Side.SELL
_LIMIT, _MARKET, _CANCEL, _MODIFY = OpKind
_IOC = TimeInForce.IOC


@dataclass(frozen=True)
class OrderBookConfig:
    """Prices are integer ticks in ``[0, n_ticks)``; ``tick_size`` converts them to currency.
    The batch book keeps a ladder of 32 bytes per tick: raise ``n_ticks`` for higher prices."""

    n_ticks: int = 100_000
    tick_size: float = 0.01

    def __post_init__(self) -> None:
        if self.n_ticks < 2 or self.tick_size <= 0:
            raise ValueError(f"invalid book config: {self}")

    def to_ticks(self, price: float) -> int:
        return round(price / self.tick_size)

    def to_price(self, ticks: int) -> float:
        return ticks * self.tick_size


class _Order:
    __slots__ = ("order_id", "post_only", "price", "qty", "side", "status")

    def __init__(self, order_id: int, side: Side, price: int, qty: int, post_only: bool):
        self.order_id = order_id
        self.side = side
        self.price = price
        self.qty = qty
        self.post_only = post_only
        self.status = ACTIVE


class _Level:
    """FIFO of the orders at one price; cancelled orders are dropped lazily when reached."""

    __slots__ = ("n_orders", "orders", "qty")

    def __init__(self) -> None:
        self.orders: deque[_Order] = deque()
        self.qty = 0
        self.n_orders = 0


class OrderBook:
    """One instrument's book. Each operation returns an :class:`OrderResult` with its fills."""

    def __init__(self, config: OrderBookConfig | None = None) -> None:
        self.config = config or OrderBookConfig()
        self._orders: dict[int, _Order] = {}
        self._levels: tuple[dict[int, _Level], dict[int, _Level]] = ({}, {})
        # Ascending price lists: the best bid is the last, the best ask the first.
        self._prices: tuple[list[int], list[int]] = ([], [])

    # ----------------------------------------------------------------- queries
    @property
    def best_bid(self) -> int | None:
        prices = self._prices[Side.BUY]
        return prices[-1] if prices else None

    @property
    def best_ask(self) -> int | None:
        prices = self._prices[Side.SELL]
        return prices[0] if prices else None

    def status(self, order_id: int) -> OrderStatus:
        order = self._orders.get(order_id)
        return order.status if order is not None else OrderStatus.UNKNOWN

    def resting_qty(self, order_id: int) -> int:
        """Open quantity of an order (0 unless it is resting)."""
        order = self._orders.get(order_id)
        return order.qty if order is not None and order.status is ACTIVE else 0

    def depth(self, n_levels: int = 10) -> DepthSnapshot:
        """Level-2 snapshot: the best ``n_levels`` levels each side (price, qty, order count)."""
        bid_prices, ask_prices = self._prices
        bids, asks = self._levels
        return DepthSnapshot(
            bids=tuple(
                Level(p, bids[p].qty, bids[p].n_orders) for p in reversed(bid_prices[-n_levels:])
            ),
            asks=tuple(Level(p, asks[p].qty, asks[p].n_orders) for p in ask_prices[:n_levels]),
        )

    def queue_position(self, order_id: int) -> int | None:
        """Quantity resting ahead of this order at its price; ``None`` if it is not resting."""
        order = self._orders.get(order_id)
        if order is None or order.status is not ACTIVE:
            return None
        ahead = 0
        for other in self._levels[order.side][order.price].orders:
            if other is order:
                return ahead
            if other.status is ACTIVE:
                ahead += other.qty
        raise AssertionError("resting order missing from its level")  # pragma: no cover

    # -------------------------------------------------------------- operations
    def apply(self, op: Op) -> OrderResult:
        """Apply one :class:`Op` (the row form used by the batch core)."""
        ts, kind, order_id, side, price, qty, tif, post_only = op
        if kind == _LIMIT:
            return self.submit_limit(
                order_id, side, price, qty, tif=tif, post_only=post_only, ts=ts
            )
        if kind == _CANCEL:
            return self.cancel(order_id, ts=ts)
        if kind == _MARKET:
            return self.submit_market(order_id, side, qty, ts=ts)
        if kind == _MODIFY:
            return self.modify(order_id, price, qty, ts=ts)
        raise ValueError(f"unknown operation kind {op.kind!r}")

    def submit_limit(
        self,
        order_id: int,
        side: Side,
        price: int,
        qty: int,
        *,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        ts: int = 0,
    ) -> OrderResult:
        self._check(order_id, price, qty)
        if order_id in self._orders:
            return OrderResult(order_id, Reason.DUPLICATE_ORDER_ID)
        if post_only and self._crosses(side, price):
            rejected = self._orders[order_id] = _Order(order_id, side, price, qty, post_only)
            rejected.status = OrderStatus.REJECTED
            return OrderResult(order_id, Reason.POST_ONLY_WOULD_CROSS)
        order = _Order(order_id, side, price, qty, post_only)
        self._orders[order_id] = order
        result = OrderResult(order_id, submitted_qty=qty)
        if self._crosses(side, price):
            self._match(order, price, result, ts)
        if order.qty == 0:
            order.status = OrderStatus.FILLED
        elif tif == _IOC:
            result.expired_qty = order.qty
            order.status = OrderStatus.EXPIRED
        else:
            self._rest(order)
        return result

    def submit_market(self, order_id: int, side: Side, qty: int, *, ts: int = 0) -> OrderResult:
        self._check(order_id, 0, qty)
        if order_id in self._orders:
            return OrderResult(order_id, Reason.DUPLICATE_ORDER_ID)
        order = _Order(order_id, side, 0, qty, False)
        self._orders[order_id] = order
        result = OrderResult(order_id, submitted_qty=qty)
        self._match(order, self.config.n_ticks if side == _BUY else -1, result, ts)
        if order.qty == 0:
            order.status = OrderStatus.FILLED
        else:
            result.expired_qty = order.qty
            order.status = OrderStatus.EXPIRED
        return result

    def cancel(self, order_id: int, *, ts: int = 0) -> OrderResult:
        """Remove a resting order; a no-op with a reason if it is not resting."""
        order = self._orders.get(order_id)
        if order is None or order.status is not ACTIVE:
            return OrderResult(order_id, INACTIVE_REASON[self.status(order_id)])
        self._unrest(order)
        order.status = OrderStatus.CANCELLED
        return OrderResult(order_id, cancelled_qty=order.qty)

    def modify(self, order_id: int, price: int, qty: int, *, ts: int = 0) -> OrderResult:
        """Set a resting order's price and open quantity (see the module rules on priority)."""
        self._check(order_id, price, qty)
        order = self._orders.get(order_id)
        if order is None or order.status is not ACTIVE:
            return OrderResult(order_id, INACTIVE_REASON[self.status(order_id)])
        if price == order.price and qty <= order.qty:
            level = self._levels[order.side][price]
            level.qty -= order.qty - qty
            result = OrderResult(order_id, cancelled_qty=order.qty - qty)
            order.qty = qty
            return result
        if order.post_only and self._crosses(order.side, price):
            return OrderResult(order_id, Reason.POST_ONLY_WOULD_CROSS)
        self._unrest(order)
        order.status = OrderStatus.CANCELLED  # the old queue entry is dead
        result = OrderResult(order_id, cancelled_qty=order.qty, submitted_qty=qty)
        new = _Order(order_id, order.side, price, qty, order.post_only)
        self._orders[order_id] = new
        self._match(new, price, result, ts)
        if new.qty == 0:
            new.status = OrderStatus.FILLED
        else:
            self._rest(new)
        return result

    # --------------------------------------------------------------- internals
    def _check(self, order_id: int, price: int, qty: int) -> None:
        if order_id < 0:
            raise ValueError(f"order id must be non-negative, got {order_id}")
        if qty <= 0:
            raise ValueError(f"order {order_id}: quantity must be positive, got {qty}")
        if not 0 <= price < self.config.n_ticks:
            raise ValueError(
                f"order {order_id}: price {price} ticks outside [0, {self.config.n_ticks})"
            )

    def _crosses(self, side: Side, price: int) -> bool:
        if side == _BUY:
            asks = self._prices[_SELL]
            return bool(asks) and price >= asks[0]
        bids = self._prices[_BUY]
        return bool(bids) and price <= bids[-1]

    def _match(self, taker: _Order, limit: int, result: OrderResult, ts: int) -> None:
        """Fill ``taker`` against the opposite side up to price ``limit`` (inclusive)."""
        buy = taker.side == _BUY
        maker_side = _SELL if buy else _BUY
        levels = self._levels[maker_side]
        prices = self._prices[maker_side]
        fills = result.fills
        remaining = taker.qty
        while remaining and prices:
            price = prices[0] if buy else prices[-1]
            if (price > limit) if buy else (price < limit):
                break
            level = levels[price]
            queue = level.orders
            while remaining and level.qty:
                maker = queue[0]
                if maker.status is not ACTIVE:
                    queue.popleft()
                    continue
                take = remaining if remaining < maker.qty else maker.qty
                fills.append(Fill(ts, taker.order_id, maker.order_id, taker.side, price, take))
                maker.qty -= take
                level.qty -= take
                remaining -= take
                if maker.qty == 0:
                    maker.status = OrderStatus.FILLED
                    queue.popleft()
                    level.n_orders -= 1
            if level.qty == 0:
                del levels[price]
                if buy:
                    del prices[0]
                else:
                    prices.pop()
        taker.qty = remaining

    def _rest(self, order: _Order) -> None:
        levels = self._levels[order.side]
        level = levels.get(order.price)
        if level is None:
            level = levels[order.price] = _Level()
            insort(self._prices[order.side], order.price)
        level.orders.append(order)
        level.qty += order.qty
        level.n_orders += 1

    def _unrest(self, order: _Order) -> None:
        levels = self._levels[order.side]
        level = levels[order.price]
        level.qty -= order.qty
        level.n_orders -= 1
        if level.n_orders == 0:
            del levels[order.price]
            self._prices[order.side].remove(order.price)
