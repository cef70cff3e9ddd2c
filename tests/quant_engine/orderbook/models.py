"""Test helpers: a naive reference book and a per-operation view of the batch book."""

from __future__ import annotations

from quant_engine.orderbook import (
    ArrayOrderBook,
    Fill,
    Op,
    OpKind,
    OrderResult,
    OrderStatus,
    Reason,
    Side,
    TimeInForce,
    ops_array,
)
from quant_engine.orderbook.types import INACTIVE_REASON


class ReferenceBook:
    """The matching rules written as plainly as possible: a list of resting orders, sorted on
    every match by (best price, arrival sequence)."""

    def __init__(self, n_ticks: int) -> None:
        self.n_ticks = n_ticks
        self.resting: list[dict] = []
        self.status: dict[int, OrderStatus] = {}
        self.seq = 0

    def _best(self, side: Side) -> int | None:
        prices = [o["price"] for o in self.resting if o["side"] == side]
        if not prices:
            return None
        return max(prices) if side == Side.BUY else min(prices)

    def _crosses(self, side: Side, price: int) -> bool:
        best = self._best(Side(1 - side))
        if best is None:
            return False
        return price >= best if side == Side.BUY else price <= best

    def _take(self, order_id: int, side: Side, limit: int | None, qty: int, ts: int) -> tuple:
        fills = []
        makers = [o for o in self.resting if o["side"] != side]
        if side == Side.BUY:
            makers.sort(key=lambda o: (o["price"], o["seq"]))
        else:
            makers.sort(key=lambda o: (-o["price"], o["seq"]))
        for maker in makers:
            if qty == 0:
                break
            if limit is not None and (
                maker["price"] > limit if side == Side.BUY else maker["price"] < limit
            ):
                break
            take = min(qty, maker["qty"])
            fills.append(Fill(ts, order_id, maker["id"], side, maker["price"], take))
            maker["qty"] -= take
            qty -= take
            if maker["qty"] == 0:
                self.resting.remove(maker)
                self.status[maker["id"]] = OrderStatus.FILLED
        return fills, qty

    def _rest(self, order_id, side, price, qty, post_only) -> None:
        self.seq += 1
        self.resting.append(
            {"id": order_id, "side": side, "price": price, "qty": qty, "seq": self.seq,
             "post_only": post_only}
        )  # fmt: skip
        self.status[order_id] = OrderStatus.ACTIVE

    def _find(self, order_id: int) -> dict | None:
        return next((o for o in self.resting if o["id"] == order_id), None)

    def apply(self, op: Op) -> OrderResult:
        if op.kind in (OpKind.LIMIT, OpKind.MARKET):
            if op.order_id in self.status:
                return OrderResult(op.order_id, Reason.DUPLICATE_ORDER_ID)
            if op.kind == OpKind.LIMIT and op.post_only and self._crosses(op.side, op.price):
                self.status[op.order_id] = OrderStatus.REJECTED
                return OrderResult(op.order_id, Reason.POST_ONLY_WOULD_CROSS)
            limit = op.price if op.kind == OpKind.LIMIT else None
            fills, left = self._take(op.order_id, op.side, limit, op.qty, op.ts)
            result = OrderResult(op.order_id, fills=fills, submitted_qty=op.qty)
            if left == 0:
                self.status[op.order_id] = OrderStatus.FILLED
            elif op.kind == OpKind.MARKET or op.tif == TimeInForce.IOC:
                self.status[op.order_id] = OrderStatus.EXPIRED
                result.expired_qty = left
            else:
                self._rest(op.order_id, op.side, op.price, left, op.post_only)
            return result
        order = self._find(op.order_id)
        if order is None:
            status = self.status.get(op.order_id, OrderStatus.UNKNOWN)
            return OrderResult(op.order_id, INACTIVE_REASON[status])
        if op.kind == OpKind.CANCEL:
            self.resting.remove(order)
            self.status[op.order_id] = OrderStatus.CANCELLED
            return OrderResult(op.order_id, cancelled_qty=order["qty"])
        if op.price == order["price"] and op.qty <= order["qty"]:
            result = OrderResult(op.order_id, cancelled_qty=order["qty"] - op.qty)
            order["qty"] = op.qty
            return result
        if order["post_only"] and self._crosses(order["side"], op.price):
            return OrderResult(op.order_id, Reason.POST_ONLY_WOULD_CROSS)
        self.resting.remove(order)
        fills, left = self._take(op.order_id, order["side"], op.price, op.qty, op.ts)
        result = OrderResult(
            op.order_id, fills=fills, cancelled_qty=order["qty"], submitted_qty=op.qty
        )
        if left:
            self._rest(op.order_id, order["side"], op.price, left, order["post_only"])
        else:
            self.status[op.order_id] = OrderStatus.FILLED
        return result

    def resting_total(self) -> int:
        return sum(o["qty"] for o in self.resting)


class BatchAsCalls:
    """The batch book driven one operation at a time, with :class:`OrderBook`'s ``apply`` and
    ``result``."""

    def __init__(self, book: ArrayOrderBook) -> None:
        self.book = book
        self.results: list[OrderResult] = []

    def apply(self, op: Op) -> int:
        self.results.append(self.book.process(ops_array([op])).result(0))
        return len(self.results) - 1

    def result(self, seq: int) -> OrderResult:
        return self.results[seq]

    def __getattr__(self, name: str):
        return getattr(self.book, name)
