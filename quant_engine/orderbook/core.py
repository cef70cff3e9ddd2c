"""The order book's matching engine: price-time priority compiled with numba over flat arrays.

Rules (``OrderBook``, the per-call API, and ``ArrayOrderBook``, the batch API, both run them
through this kernel; tests hold it equal to a plain reference model):

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

The book is a price ladder ``[side, tick]`` of FIFO queues kept as doubly linked lists over an
order table indexed by order id, so adding, cancelling and filling an order are O(1) and the
best price moves by a short scan. ``ArrayOrderBook.process(ops)`` runs a whole structured array
of operations (``OP_DTYPE``) in one compiled call and returns every fill and per-operation
outcome; state carries over between calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from quant_engine.orderbook.types import (
    INACTIVE_REASON,
    DepthSnapshot,
    Fill,
    Level,
    Op,
    OpKind,
    OrderBookConfig,
    OrderResult,
    OrderStatus,
    Reason,
    Side,
    TimeInForce,
)

OP_DTYPE = np.dtype(
    [
        ("ts", np.int64),
        ("kind", np.int8),
        ("order_id", np.int64),
        ("side", np.int8),
        ("price", np.int64),
        ("qty", np.int64),
        ("tif", np.int8),
        ("post_only", np.bool_),
    ]
)
ORDER_DTYPE = np.dtype(
    [
        ("price", np.int64),
        ("qty", np.int64),
        ("next", np.int64),
        ("prev", np.int64),
        ("side", np.int8),
        ("status", np.int8),
        ("post_only", np.bool_),
    ]
)
OUTCOME_DTYPE = np.dtype(
    [
        ("order_id", np.int64),
        ("fill_start", np.int64),  # index in the fills of the operation's first fill
        ("reason", np.int8),
        ("submitted_qty", np.int64),
        ("cancelled_qty", np.int64),
        ("expired_qty", np.int64),
    ]
)
FILL_DTYPE = np.dtype(
    [
        ("op_index", np.int64),
        ("ts", np.int64),
        ("taker_id", np.int64),
        ("maker_id", np.int64),
        ("taker_side", np.int8),
        ("price", np.int64),
        ("qty", np.int64),
    ]
)

_LIMIT, _MARKET, _CANCEL, _MODIFY = (int(k) for k in OpKind)
_UNKNOWN, _ACTIVE, _FILLED, _CANCELLED, _EXPIRED, _REJECTED = (int(s) for s in OrderStatus)
# Reason code for an inactive order, indexed by its status (see types.INACTIVE_REASON).
_INACTIVE_REASON = np.array([INACTIVE_REASON.get(s, Reason.NONE) for s in OrderStatus], np.int8)
_POST_ONLY_WOULD_CROSS = int(Reason.POST_ONLY_WOULD_CROSS)
_DUPLICATE_ORDER_ID = int(Reason.DUPLICATE_ORDER_ID)
_BUY, _SELL = int(Side.BUY), int(Side.SELL)
_IOC = int(TimeInForce.IOC)
_REASONS, _SIDES = tuple(Reason), tuple(Side)  # by code


def ops_array(ops: list[Op]) -> np.ndarray:
    """Pack :class:`Op` rows into the structured array ``process`` takes."""
    return np.array([tuple(op) for op in ops], dtype=OP_DTYPE)


@dataclass(frozen=True)
class BatchResult:
    """Every fill (``fills``, ``FILL_DTYPE``, in order) and one ``outcome`` row per operation
    (``OUTCOME_DTYPE``): its order id, reason code, the quantity it put up, cancelled or let
    expire, and the index of its first fill; each column is a property as well."""

    fills: np.ndarray
    outcome: np.ndarray

    def __len__(self) -> int:
        return len(self.outcome)

    order_id = property(lambda self: self.outcome["order_id"])
    reason = property(lambda self: self.outcome["reason"])
    submitted_qty = property(lambda self: self.outcome["submitted_qty"])
    cancelled_qty = property(lambda self: self.outcome["cancelled_qty"])
    expired_qty = property(lambda self: self.outcome["expired_qty"])
    fill_start = property(lambda self: self.outcome["fill_start"])

    def result(self, i: int) -> OrderResult:
        """Operation ``i``'s outcome as an :class:`OrderResult` (its fills as :class:`Fill`)."""
        return self.order_results(i, i + 1)[0]

    def order_results(self, start: int = 0, stop: int | None = None) -> list[OrderResult]:
        """Operations ``start:stop``'s outcomes as :class:`OrderResult`, converted together."""
        n_ops = len(self.outcome)
        return order_results(
            self.outcome, n_ops, self.fills, len(self.fills), start, n_ops if stop is None else stop
        )


def order_results(
    outcome: np.ndarray, n_ops: int, fills: np.ndarray, n_fills: int, start: int, stop: int
) -> list[OrderResult]:
    """Operations ``start:stop`` of ``outcome[:n_ops]`` (whose fills are ``fills[:n_fills]``)
    as :class:`OrderResult`."""
    rows = outcome[start:stop].tolist()
    if not rows:
        return []
    lo = rows[0][1]
    hi = int(outcome[stop]["fill_start"]) if stop < n_ops else n_fills
    taken = [
        Fill(ts, taker, maker, _SIDES[side], price, qty)
        for _, ts, taker, maker, side, price, qty in fills[lo:hi].tolist()
    ]
    ends = [row[1] for row in rows[1:]]
    ends.append(hi)
    return [
        OrderResult(
            order_id,
            _REASONS[reason],
            taken[first - lo : end - lo],
            cancelled_qty=cancelled,
            expired_qty=expired,
            submitted_qty=submitted,
        )
        for (order_id, first, reason, submitted, cancelled, expired), end in zip(
            rows, ends, strict=True
        )
    ]


class ArrayOrderBook:
    """The book's batch API: whole arrays of operations per compiled call (see
    :class:`~quant_engine.orderbook.book.OrderBook` for one call per operation)."""

    def __init__(self, config: OrderBookConfig | None = None, capacity: int = 1024) -> None:
        self.config = config or OrderBookConfig()
        n = self.config.n_ticks
        self._head = np.full((2, n), -1, dtype=np.int64)
        self._tail = np.full((2, n), -1, dtype=np.int64)
        self._lvl_qty = np.zeros((2, n), dtype=np.int64)
        self._lvl_n = np.zeros((2, n), dtype=np.int64)
        self._best = np.array([-1, n], dtype=np.int64)
        self._orders = _empty_orders(capacity)
        self._side_count = np.zeros(2, dtype=np.int64)  # resting orders per side

    # ----------------------------------------------------------------- queries
    @property
    def best_bid(self) -> int | None:
        return int(self._best[0]) if self._best[0] >= 0 else None

    @property
    def best_ask(self) -> int | None:
        return int(self._best[1]) if self._best[1] < self.config.n_ticks else None

    def status(self, order_id: int) -> OrderStatus:
        if not 0 <= order_id < len(self._orders):
            return OrderStatus.UNKNOWN
        return OrderStatus(int(self._orders["status"][order_id]))

    def resting_qty(self, order_id: int) -> int:
        if self.status(order_id) is not OrderStatus.ACTIVE:
            return 0
        return int(self._orders["qty"][order_id])

    def depth(self, n_levels: int = 10) -> DepthSnapshot:
        sides = []
        for side, step in ((Side.BUY, -1), (Side.SELL, 1)):
            levels: list[Level] = []
            price = int(self._best[side])
            while 0 <= price < self.config.n_ticks and len(levels) < n_levels:
                if self._lvl_n[side, price]:
                    levels.append(
                        Level(price, int(self._lvl_qty[side, price]), int(self._lvl_n[side, price]))
                    )
                price += step
            sides.append(tuple(levels))
        return DepthSnapshot(bids=sides[0], asks=sides[1])

    def queue_position(self, order_id: int) -> int | None:
        """Quantity resting ahead of this order at its price; ``None`` if it is not resting."""
        if self.status(order_id) is not OrderStatus.ACTIVE:
            return None
        return int(_queue_ahead(order_id, self._orders))

    # --------------------------------------------------------------- operations
    def process(self, ops: np.ndarray) -> BatchResult:
        """Apply a structured array of operations (``OP_DTYPE``) in order."""
        outcome = np.zeros(len(ops), dtype=OUTCOME_DTYPE)
        fills, n_fills = self.process_into(ops, outcome, np.empty(len(ops) + 16, FILL_DTYPE))
        return BatchResult(fills[:n_fills], outcome)

    def process_into(
        self,
        ops: np.ndarray,
        outcome: np.ndarray,
        fills: np.ndarray,
        n_fills: int = 0,
        op_base: int = 0,
    ) -> tuple[np.ndarray, int]:
        """``process`` into given arrays: each operation's outcome into ``outcome`` (zeroed,
        ``len(ops)`` rows of ``OUTCOME_DTYPE``), fills from ``fills[n_fills]`` on, their
        ``op_index`` counted from ``op_base``. Returns the fills array (a larger copy when they
        did not fit) and the new fill count."""
        if ops.dtype != OP_DTYPE:
            raise ValueError(f"ops must have dtype OP_DTYPE, got {ops.dtype}")
        n = len(ops)
        row, problem, top = _scan(ops, self.config.n_ticks)
        if row >= 0:
            raise ValueError(f"ops row {row}: {_PROBLEMS[problem]}: {ops[row]}")
        if top >= len(self._orders):
            if top >= self.id_bound(n):
                raise ValueError(
                    f"order id {top} is far beyond the {len(self._orders)} orders so far: the"
                    " book indexes its order table by id, so ids must be dense (0, 1, 2, ...)"
                )
            self._grow(top + 1)
        # Each fill takes at least one unit, so an operation makes at most min(qty, resting)
        # fills; the kernel stops before one that might not fit and the buffer grows.
        i = 0
        while True:
            i, n_fills = _process(
                ops,
                i,
                op_base,
                self._head,
                self._tail,
                self._lvl_qty,
                self._lvl_n,
                self._best,
                self._orders,
                fills,
                n_fills,
                outcome,
                self._side_count,
            )
            if i == n:
                return fills, n_fills
            need = min(int(ops["qty"][i]), int(self._side_count.sum()))
            grown = np.empty(max(2 * len(fills), n_fills + need), dtype=FILL_DTYPE)
            grown[:n_fills] = fills[:n_fills]
            fills = grown

    def id_bound(self, n_new: int = 0) -> int:
        """Order ids must stay below this (dense ids: the order table is indexed by id) for a
        batch of ``n_new`` more operations."""
        return 16 * (len(self._orders) + n_new) + 1_000_001

    def _grow(self, capacity: int) -> None:
        grown = _empty_orders(max(capacity, 2 * len(self._orders)))
        grown[: len(self._orders)] = self._orders
        self._orders = grown


def _empty_orders(capacity: int) -> np.ndarray:
    orders = np.zeros(capacity, dtype=ORDER_DTYPE)
    orders["next"] = -1
    orders["prev"] = -1
    return orders


_PROBLEMS = (
    "kind not in 0..3",
    "negative order_id",
    "side not 0 (buy) or 1 (sell)",
    "tif not 0 (GTC) or 1 (IOC)",
    "quantity not positive",
    "price outside the book's ticks",
)


@numba.njit(cache=True)
def _scan(ops, n_ticks):  # pragma: no cover - compiled
    """(row, problem index into ``_PROBLEMS``) of the first invalid operation, or (-1, -1), and
    the largest order id (-1 if none)."""
    top = -1
    for i in range(ops.shape[0]):
        op = ops[i]
        k = op.kind
        if k < 0 or k > 3:
            return i, 0, top
        if op.order_id < 0:
            return i, 1, top
        if op.side < 0 or op.side > 1:
            return i, 2, top
        if op.tif < 0 or op.tif > 1:
            return i, 3, top
        if k != _CANCEL and op.qty <= 0:
            return i, 4, top
        if k in (_LIMIT, _MODIFY) and (op.price < 0 or op.price >= n_ticks):
            return i, 5, top
        if op.order_id > top:
            top = op.order_id
    return -1, -1, top


@numba.njit(cache=True)
def _queue_ahead(order_id, orders):  # pragma: no cover - compiled
    ahead = 0
    o = orders[order_id].prev
    while o != -1:
        ahead += orders[o].qty
        o = orders[o].prev
    return ahead


@numba.njit(cache=True, inline="always")
def _rescan(side, price, lvl_n, side_count):  # pragma: no cover - compiled
    """Next non-empty price from ``price`` away from the spread (or past the ladder's end)."""
    n_ticks = lvl_n.shape[1]
    if side_count[side] == 0:
        return -1 if side == _BUY else n_ticks
    if side == _BUY:
        while price >= 0 and lvl_n[0, price] == 0:
            price -= 1
    else:
        while price < n_ticks and lvl_n[1, price] == 0:
            price += 1
    return price


@numba.njit(cache=True, inline="always")
def _crosses(side, price, best):  # pragma: no cover - compiled
    if side == _BUY:
        return price >= best[_SELL]
    return price <= best[_BUY]


@numba.njit(cache=True)
def _process(  # pragma: no cover - compiled
    ops, start, op_base, head, tail, lvl_qty, lvl_n, best, orders, fills, nf, outcome, side_count
):
    """Apply ``ops[start:]`` in order, writing fills from ``fills[nf]`` (operation ``i``'s with
    ``op_index`` ``op_base + i``). Returns (the first operation not applied, the number of
    fills): it stops early, before an operation whose fills might not fit in ``fills``."""
    n_ticks = head.shape[1]
    for i in range(start, ops.shape[0]):
        op = ops[i]
        k = op.kind
        if k != _CANCEL and nf + min(op.qty, side_count[0] + side_count[1]) > fills.shape[0]:
            return i, nf
        outcome[i].order_id = op.order_id
        outcome[i].fill_start = nf
        o = op.order_id
        order = orders[o]
        st = order.status
        if k in (_CANCEL, _MODIFY):
            if st != _ACTIVE:
                outcome[i].reason = _INACTIVE_REASON[st]
                continue
            s = order.side
            p = order.price
            if k == _MODIFY:
                if op.price == p and op.qty <= order.qty:  # reduce in place
                    outcome[i].cancelled_qty = order.qty - op.qty
                    lvl_qty[s, p] -= order.qty - op.qty
                    order.qty = op.qty
                    continue
                if order.post_only and _crosses(s, op.price, best):
                    outcome[i].reason = _POST_ONLY_WOULD_CROSS
                    continue
            # unlink from its queue
            nx = order.next
            pv = order.prev
            if pv == -1:
                head[s, p] = nx
            else:
                orders[pv].next = nx
            if nx == -1:
                tail[s, p] = pv
            else:
                orders[nx].prev = pv
            order.next = -1
            order.prev = -1
            lvl_qty[s, p] -= order.qty
            lvl_n[s, p] -= 1
            side_count[s] -= 1
            if lvl_n[s, p] == 0 and p == best[s]:
                best[s] = _rescan(s, p, lvl_n, side_count)
            outcome[i].cancelled_qty = order.qty
            order.status = _CANCELLED
            if k == _CANCEL:
                continue
        else:  # new limit / market order
            if st != _UNKNOWN:
                outcome[i].reason = _DUPLICATE_ORDER_ID
                continue
            s = op.side
            if k == _LIMIT and op.post_only and _crosses(s, op.price, best):
                order.status = _REJECTED
                outcome[i].reason = _POST_ONLY_WOULD_CROSS
                continue
            order.side = s
            order.post_only = k == _LIMIT and op.post_only
        # match the incoming (or replaced) order as a taker
        limit = (n_ticks if s == _BUY else -1) if k == _MARKET else op.price
        rem = op.qty
        outcome[i].submitted_qty = rem
        ms = 1 - s
        while rem > 0:
            bp = best[ms]
            if ms == _SELL:
                if bp >= n_ticks or bp > limit:
                    break
            elif bp < 0 or bp < limit:
                break
            m = head[ms, bp]
            while rem > 0 and m != -1:
                maker = orders[m]
                take = rem if rem < maker.qty else maker.qty
                fill = fills[nf]
                fill.op_index = op_base + i
                fill.ts = op.ts
                fill.taker_id = o
                fill.maker_id = m
                fill.taker_side = s
                fill.price = bp
                fill.qty = take
                nf += 1
                maker.qty -= take
                lvl_qty[ms, bp] -= take
                rem -= take
                if maker.qty == 0:
                    maker.status = _FILLED
                    nx = maker.next
                    maker.next = -1
                    head[ms, bp] = nx
                    if nx == -1:
                        tail[ms, bp] = -1
                    else:
                        orders[nx].prev = -1
                    lvl_n[ms, bp] -= 1
                    side_count[ms] -= 1
                    m = nx
            if lvl_n[ms, bp] == 0:
                best[ms] = _rescan(ms, bp, lvl_n, side_count)
        order.qty = rem
        if rem == 0:
            order.status = _FILLED
        elif k == _MARKET or (k == _LIMIT and op.tif == _IOC):
            order.status = _EXPIRED
            outcome[i].expired_qty = rem
        else:  # rest at the back of its price's queue
            p = limit
            order.price = p
            order.status = _ACTIVE
            t = tail[s, p]
            order.prev = t
            order.next = -1
            if t == -1:
                head[s, p] = o
            else:
                orders[t].next = o
            tail[s, p] = o
            lvl_qty[s, p] += rem
            lvl_n[s, p] += 1
            side_count[s] += 1
            if (s == _BUY and p > best[_BUY]) or (s == _SELL and p < best[_SELL]):
                best[s] = p
    return ops.shape[0], nf
