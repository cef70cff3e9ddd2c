"""Order book rules on hand-made cases, for the per-call book and the batch core alike."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from quant_engine.orderbook import (
    OP_DTYPE,
    ArrayOrderBook,
    Level,
    Op,
    OpKind,
    OrderBook,
    OrderBookConfig,
    OrderStatus,
    Reason,
    Side,
    TimeInForce,
    core,
)
from tests.quant_engine.orderbook.models import BatchAsCalls

CONFIG = OrderBookConfig(n_ticks=1000)
BUY, SELL = Side.BUY, Side.SELL


@pytest.fixture(params=["per_call", "batch"])
def book(request):
    if request.param == "per_call":
        return OrderBook(CONFIG, capacity=4)  # capacity 4: exercises growth
    return BatchAsCalls(ArrayOrderBook(CONFIG, capacity=4))


def run(book, op):
    return book.result(book.apply(op))


def limit(book, oid, side, price, qty, ts=0, tif=TimeInForce.GTC, post_only=False):
    return run(book, Op(ts, OpKind.LIMIT, oid, side, price, qty, tif, post_only))


def market(book, oid, side, qty, ts=0):
    return run(book, Op(ts, OpKind.MARKET, oid, side, 0, qty))


def cancel(book, oid, ts=0):
    return run(book, Op(ts, OpKind.CANCEL, oid))


def modify(book, oid, price, qty, ts=0):
    return run(book, Op(ts, OpKind.MODIFY, oid, BUY, price, qty))


def trades(result):
    return [(f.maker_id, f.price, f.qty) for f in result.fills]


def test_taker_fills_best_price_first_then_oldest_first(book):
    limit(book, 1, SELL, 101, 5)
    limit(book, 2, SELL, 100, 5)
    limit(book, 3, SELL, 100, 5)
    result = limit(book, 4, BUY, 101, 12, ts=7)
    assert trades(result) == [(2, 100, 5), (3, 100, 5), (1, 101, 2)]
    assert all(f.taker_id == 4 and f.ts == 7 and f.taker_side == BUY for f in result.fills)
    assert book.status(4) is OrderStatus.FILLED
    assert book.resting_qty(1) == 3
    assert book.depth(5).asks == (Level(101, 3, 1),)


def test_limit_fills_only_up_to_its_price_and_rests_the_remainder(book):
    limit(book, 1, SELL, 100, 5)
    limit(book, 2, SELL, 102, 5)
    result = limit(book, 3, BUY, 101, 8)
    assert trades(result) == [(1, 100, 5)]
    assert book.resting_qty(3) == 3
    assert (book.best_bid, book.best_ask) == (101, 102)


def test_market_order_sweeps_levels_and_expires_what_is_left(book):
    limit(book, 1, BUY, 99, 4)
    limit(book, 2, BUY, 98, 4)
    result = market(book, 3, SELL, 10)
    assert trades(result) == [(1, 99, 4), (2, 98, 4)]
    assert result.expired_qty == 2
    assert book.status(3) is OrderStatus.EXPIRED
    assert book.best_bid is None


def test_ioc_never_rests(book):
    limit(book, 1, SELL, 100, 3)
    result = limit(book, 2, BUY, 100, 5, tif=TimeInForce.IOC)
    assert trades(result) == [(1, 100, 3)]
    assert result.expired_qty == 2
    assert book.best_bid is None
    assert limit(book, 3, BUY, 99, 5, tif=TimeInForce.IOC).expired_qty == 5


def test_post_only_is_rejected_when_it_would_cross_and_rests_otherwise(book):
    limit(book, 1, SELL, 100, 3)
    rejected = limit(book, 2, BUY, 100, 5, post_only=True)
    assert rejected.reason is Reason.POST_ONLY_WOULD_CROSS and rejected.fills == []
    assert book.status(2) is OrderStatus.REJECTED
    assert limit(book, 3, BUY, 99, 5, post_only=True).ok
    assert book.depth().bids == (Level(99, 5, 1),)
    assert cancel(book, 2).reason is Reason.ORDER_REJECTED


def test_cancel_of_filled_cancelled_unknown_or_expired_order_is_a_no_op_with_a_reason(book):
    limit(book, 1, SELL, 100, 3)
    limit(book, 2, SELL, 101, 3)
    market(book, 3, BUY, 3)
    assert cancel(book, 1).reason is Reason.ALREADY_FILLED
    assert cancel(book, 2).cancelled_qty == 3
    again = cancel(book, 2)
    assert again.reason is Reason.ALREADY_CANCELLED and again.cancelled_qty == 0
    assert cancel(book, 99).reason is Reason.UNKNOWN_ORDER
    market(book, 4, BUY, 1)
    assert cancel(book, 4).reason is Reason.ALREADY_EXPIRED
    assert modify(book, 1, 100, 1).reason is Reason.ALREADY_FILLED
    assert book.depth() == OrderBook(CONFIG).depth()


def test_reusing_an_order_id_is_rejected_and_leaves_the_order_alone(book):
    limit(book, 1, BUY, 100, 3)
    assert limit(book, 1, BUY, 101, 9).reason is Reason.DUPLICATE_ORDER_ID
    assert market(book, 1, SELL, 9).reason is Reason.DUPLICATE_ORDER_ID
    assert book.resting_qty(1) == 3


def test_modify_reducing_quantity_keeps_queue_place(book):
    limit(book, 1, BUY, 100, 5)
    limit(book, 2, BUY, 100, 5)
    assert modify(book, 1, 100, 2).cancelled_qty == 3
    assert book.queue_position(2) == 2
    assert trades(market(book, 3, SELL, 3)) == [(1, 100, 2), (2, 100, 1)]


@pytest.mark.parametrize(("price", "qty"), [(100, 6), (99, 5)])
def test_modify_raising_quantity_or_moving_price_loses_queue_place(book, price, qty):
    limit(book, 1, BUY, 100, 5)
    limit(book, 2, BUY, price, 5)
    result = modify(book, 1, price, qty)
    assert result.cancelled_qty == 5 and result.submitted_qty == qty
    assert book.queue_position(1) == 5
    assert book.queue_position(2) == 0


def test_modify_to_a_crossing_price_trades_as_taker(book):
    limit(book, 1, SELL, 102, 4)
    limit(book, 2, BUY, 100, 6)
    result = modify(book, 2, 102, 6)
    assert trades(result) == [(1, 102, 4)]
    assert book.resting_qty(2) == 2 and book.best_bid == 102 and book.best_ask is None


def test_post_only_modify_that_would_cross_is_rejected_and_the_order_kept(book):
    limit(book, 1, SELL, 102, 4)
    limit(book, 2, BUY, 100, 6, post_only=True)
    assert modify(book, 2, 102, 6).reason is Reason.POST_ONLY_WOULD_CROSS
    assert book.resting_qty(2) == 6 and book.best_bid == 100


def test_a_sweep_through_more_orders_than_its_batch_has_rows_gets_every_fill(book):
    for oid in range(100):
        limit(book, oid, SELL, 100 + oid % 7, 1)
    result = market(book, 100, BUY, 150)  # matched alone: a batch of one operation
    assert [f.maker_id for f in result.fills] == sorted(range(100), key=lambda i: (i % 7, i))
    assert result.expired_qty == 50 and book.best_ask is None


def test_depth_snapshot_lists_top_levels_best_first(book):
    for oid, (side, price, qty) in enumerate(
        [(BUY, 98, 1), (BUY, 99, 2), (BUY, 99, 3), (BUY, 97, 4), (SELL, 101, 5), (SELL, 103, 6)]
    ):
        limit(book, oid, side, price, qty)
    depth = book.depth(2)
    assert depth.bids == (Level(99, 5, 2), Level(98, 1, 1))
    assert depth.asks == (Level(101, 5, 1), Level(103, 6, 1))
    assert (depth.best_bid, depth.best_ask) == (99, 101)


def test_queue_position_counts_quantity_ahead_and_shrinks_as_it_trades(book):
    limit(book, 1, SELL, 100, 4)
    limit(book, 2, SELL, 100, 6)
    limit(book, 3, SELL, 100, 1)  # ours
    assert book.queue_position(3) == 10
    cancel(book, 1)
    assert book.queue_position(3) == 6
    market(book, 4, BUY, 5)
    assert book.queue_position(3) == 1
    market(book, 5, BUY, 2)
    assert book.queue_position(3) is None  # filled


def test_bad_operations_raise_naming_the_problem():
    book = OrderBook(CONFIG)
    book.submit_limit(0, SELL, 100, 5)
    with pytest.raises(ValueError, match="quantity must be positive"):
        book.submit_limit(1, BUY, 100, 0)
    with pytest.raises(ValueError, match="price 1000 ticks outside"):
        book.modify(0, 1000, 1)
    with pytest.raises(ValueError, match=r"side must be 0 \(buy\) or 1 \(sell\), got 2"):
        book.submit_market(1, 2, 5)
    with pytest.raises(ValueError, match=r"tif must be 0 \(GTC\) or 1 \(IOC\), got 3"):
        book.submit_limit(1, BUY, 100, 5, tif=3)
    with pytest.raises(ValueError, match="order id must be non-negative"):
        book.cancel(-1)
    with pytest.raises(ValueError, match=r"side must be 0 \(buy\) or 1 \(sell\), got -1"):
        book.submit_limit(1, -1, 100, 5)
    with pytest.raises(ValueError, match="price -3 ticks outside"):
        book.submit_limit(1, BUY, -3, 5)
    with pytest.raises(ValueError, match="order 1: required argument is not an integer"):
        book.submit_limit(1, BUY, 100.5, 5)
    with pytest.raises(ValueError, match="ids must be dense"):
        book.cancel(10**12)
    # the bad calls were refused at once: nothing of them reached the book
    assert book.submit_limit(1, BUY, 100, 2) == 1
    assert trades(book.result(1)) == [(0, 100, 2)]
    assert book.depth().asks == (Level(100, 3, 1),)
    with pytest.raises(IndexError, match="no operation 2: 2 so far"):
        book.result(2)
    ops = np.zeros(3, dtype=OP_DTYPE)
    ops["qty"] = [1, 1, -2]
    with pytest.raises(ValueError, match="ops row 2: quantity not positive"):
        ArrayOrderBook(CONFIG).process(ops)
    ops = np.zeros(1, dtype=OP_DTYPE)
    ops[0] = (0, OpKind.CANCEL, 10**12, 0, 0, 0, 0, False)
    with pytest.raises(ValueError, match="ids must be dense"):
        ArrayOrderBook(CONFIG).process(ops)
    with pytest.raises(ValueError, match="dtype OP_DTYPE"):
        ArrayOrderBook(CONFIG).process(np.zeros(3))


def test_the_compiled_kernels_are_cached_across_runs():
    kernels = [v for v in vars(core).values() if isinstance(v, numba.core.dispatcher.Dispatcher)]
    assert len(kernels) >= 4
    assert all(type(kernel._cache).__name__ == "FunctionCache" for kernel in kernels)
