"""Per-call limit order book: one method per operation, matched lazily by the compiled core.

Each operation call (``submit_limit``, ``submit_market``, ``cancel``, ``modify``, ``apply``)
checks its arguments, raising at once on a bad one, appends the operation to a pending log (one
packed ``OP_DTYPE`` row) and returns its sequence number (0, 1, 2, ... in call order); nothing
is matched yet. Anything that observes the book (``result``, ``results``, ``best_bid``,
``best_ask``, ``status``, ``resting_qty``, ``depth``, ``queue_position``) first runs the
pending operations, in call order, through the batch core (:mod:`quant_engine.orderbook.core`,
whose module docstring states the matching rules). Matching depends only on the operations and
their order, so every observation is what matching each call at once would show, and the fills
are the batch core's. What batching changes is the cost: a replay that observes rarely pays
for the calls and one compiled batch; observing after every call pays one compiled call each.

Order ids are dense non-negative integers (0, 1, 2, ...), as in the batch core, whose order
table is indexed by id. The book keeps every operation's outcome for ``result`` and
``results``: 41 bytes an operation and 57 a fill, in arrays that double as they fill up.
"""

from __future__ import annotations

import struct
from typing import NoReturn

import numpy as np

from quant_engine.orderbook.core import (
    FILL_DTYPE,
    OP_DTYPE,
    OUTCOME_DTYPE,
    ArrayOrderBook,
    BatchResult,
    order_results,
)
from quant_engine.orderbook.types import (
    DepthSnapshot,
    Op,
    OpKind,
    OrderBookConfig,
    OrderResult,
    OrderStatus,
    Side,
    TimeInForce,
)

# One OP_DTYPE row (ts, kind, order_id, side, price, qty, tif, post_only), packed as numpy
# lays it out, so the pending log is read by the core without conversion. The unsigned codes
# write the same bytes for the values allowed and refuse negative ones (struct.error), which
# spares the calls those comparisons.
_pack = struct.Struct("<qbQBQQB?").pack
_LIMIT, _MARKET, _CANCEL, _MODIFY = (int(k) for k in OpKind)


class OrderBook:
    """One instrument's book, one call per operation (see the module docstring): calls return
    sequence numbers, ``result(seq)`` says what an operation did. ``capacity``: orders and log
    rows allocated up front (both grow as needed)."""

    def __init__(self, config: OrderBookConfig | None = None, capacity: int = 1024) -> None:
        self._core = ArrayOrderBook(config, capacity)
        self.config = self._core.config
        self._n_ticks = self.config.n_ticks
        self._id_bound = self._core.id_bound()
        self._pending = bytearray()
        self._n_ops = 0  # operations called so far, matched or pending
        # The matched operations' outcomes and fills (arrays that double as they fill up).
        self._outcome = np.zeros(capacity, dtype=OUTCOME_DTYPE)
        self._n_done = 0
        self._fills = np.empty(capacity, dtype=FILL_DTYPE)
        self._n_fills = 0

    # -------------------------------------------------------------- operations
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
    ) -> int:
        """Send a limit order; returns the operation's sequence number."""
        if not (
            order_id < self._id_bound
            and side <= 1
            and price < self._n_ticks
            and qty > 0
            and tif <= 1
        ):
            self._invalid(order_id, side=side, price=price, qty=qty, tif=tif)
        try:
            self._pending += _pack(ts, _LIMIT, order_id, side, price, qty, tif, post_only)
        except struct.error as error:
            self._invalid(order_id, side=side, price=price, qty=qty, tif=tif, error=error)
        n = self._n_ops
        self._n_ops = n + 1
        return n

    def submit_market(self, order_id: int, side: Side, qty: int, *, ts: int = 0) -> int:
        """Send a market order (its unfilled remainder expires); returns the sequence number."""
        if not (order_id < self._id_bound and side <= 1 and qty > 0):
            self._invalid(order_id, side=side, qty=qty)
        try:
            self._pending += _pack(ts, _MARKET, order_id, side, 0, qty, 0, False)
        except struct.error as error:
            self._invalid(order_id, side=side, qty=qty, error=error)
        n = self._n_ops
        self._n_ops = n + 1
        return n

    def cancel(self, order_id: int, *, ts: int = 0) -> int:
        """Cancel a resting order (a no-op with a reason if it is not resting); returns the
        sequence number."""
        if not order_id < self._id_bound:
            self._invalid(order_id)
        try:
            self._pending += _pack(ts, _CANCEL, order_id, 0, 0, 0, 0, False)
        except struct.error as error:
            self._invalid(order_id, error=error)
        n = self._n_ops
        self._n_ops = n + 1
        return n

    def modify(self, order_id: int, price: int, qty: int, *, ts: int = 0) -> int:
        """Set a resting order's price and open quantity (see the core's rules on queue
        priority); returns the sequence number."""
        if not (order_id < self._id_bound and price < self._n_ticks and qty > 0):
            self._invalid(order_id, price=price, qty=qty)
        try:
            self._pending += _pack(ts, _MODIFY, order_id, 0, price, qty, 0, False)
        except struct.error as error:
            self._invalid(order_id, price=price, qty=qty, error=error)
        n = self._n_ops
        self._n_ops = n + 1
        return n

    def apply(self, op: Op) -> int:
        """Send one :class:`Op` (the row form of the batch core); returns the sequence number."""
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
        raise ValueError(f"unknown operation kind {kind!r}")

    # ----------------------------------------------------------------- results
    def result(self, seq: int) -> OrderResult:
        """What operation ``seq`` (a call's return value) did: its fills, its reason if it did
        nothing, and the quantity it put up, cancelled or let expire."""
        if not 0 <= seq < self._n_ops:
            raise IndexError(f"no operation {seq}: {self._n_ops} so far")
        self._sync()
        outcome, fills = self._outcome, self._fills
        return order_results(outcome, self._n_done, fills, self._n_fills, seq, seq + 1)[0]

    def results(self) -> BatchResult:
        """Every operation's outcome so far, in call order (``fills["op_index"]`` is the
        sequence number): views of the book's log, which later calls only append to."""
        self._sync()
        return BatchResult(self._fills[: self._n_fills], self._outcome[: self._n_done])

    # ----------------------------------------------------------------- queries
    @property
    def best_bid(self) -> int | None:
        self._sync()
        return self._core.best_bid

    @property
    def best_ask(self) -> int | None:
        self._sync()
        return self._core.best_ask

    def status(self, order_id: int) -> OrderStatus:
        self._sync()
        return self._core.status(order_id)

    def resting_qty(self, order_id: int) -> int:
        """Open quantity of an order (0 unless it is resting)."""
        self._sync()
        return self._core.resting_qty(order_id)

    def depth(self, n_levels: int = 10) -> DepthSnapshot:
        """Level-2 snapshot: the best ``n_levels`` levels each side (price, qty, order count)."""
        self._sync()
        return self._core.depth(n_levels)

    def queue_position(self, order_id: int) -> int | None:
        """Quantity resting ahead of this order at its price; ``None`` if it is not resting."""
        self._sync()
        return self._core.queue_position(order_id)

    # --------------------------------------------------------------- internals
    def _sync(self) -> None:
        """Match the pending operations."""
        if not self._pending:
            return
        ops = np.frombuffer(self._pending, dtype=OP_DTYPE)
        self._pending = bytearray()
        start, end = self._n_done, self._n_done + len(ops)
        if end > len(self._outcome):
            grown = np.zeros(max(end, 2 * len(self._outcome)), dtype=OUTCOME_DTYPE)
            grown[:start] = self._outcome[:start]
            self._outcome = grown
        self._fills, self._n_fills = self._core.process_into(
            ops, self._outcome[start:end], self._fills, self._n_fills, op_base=start
        )
        self._n_done = end
        self._id_bound = self._core.id_bound()

    def _invalid(
        self,
        order_id: int,
        *,
        side: int = 0,
        price: int = 0,
        qty: int = 1,
        tif: int = 0,
        error: struct.error | None = None,
    ) -> NoReturn:
        """Raise the error for the first bad argument of an operation call (``error``: what
        packing it said, for a value of the wrong type or size)."""
        if order_id < 0:
            raise ValueError(f"order id must be non-negative, got {order_id}")
        if order_id >= self._id_bound:
            raise ValueError(
                f"order id {order_id} is far beyond the orders so far: ids must be dense"
                " (0, 1, 2, ...)"
            )
        if not 0 <= side <= 1:
            raise ValueError(f"order {order_id}: side must be 0 (buy) or 1 (sell), got {side}")
        if not 0 <= tif <= 1:
            raise ValueError(f"order {order_id}: tif must be 0 (GTC) or 1 (IOC), got {tif}")
        if qty <= 0:
            raise ValueError(f"order {order_id}: quantity must be positive, got {qty}")
        if not 0 <= price < self._n_ticks:
            raise ValueError(f"order {order_id}: price {price} ticks outside [0, {self._n_ticks})")
        raise ValueError(
            f"order {order_id}: {error} (ts, ids, prices and sizes must be 64-bit integers)"
        )
