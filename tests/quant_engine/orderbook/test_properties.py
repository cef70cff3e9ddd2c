"""Property-based tests: random operation streams against the naive reference book."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.orderbook import (
    ArrayOrderBook,
    Op,
    OpKind,
    OrderBook,
    OrderBookConfig,
    OrderStatus,
    Reason,
    Side,
    TimeInForce,
    ops_array,
)
from quant_engine.orderbook.streams import StreamConfig, as_op_rows, random_ops
from tests.quant_engine.orderbook.models import ReferenceBook

N_TICKS = 64
CONFIG = OrderBookConfig(n_ticks=N_TICKS)


@st.composite
def op_streams(draw) -> list[Op]:
    n = draw(st.integers(1, 60))
    ops = []
    for i in range(n):
        kind = draw(st.sampled_from(OpKind))
        # new orders mostly take a fresh id; sometimes an old one (a duplicate)
        fresh = draw(st.integers(0, 9)) > 0
        order_id = (
            i if kind in (OpKind.LIMIT, OpKind.MARKET) and fresh else draw(st.integers(0, i + 2))
        )
        ops.append(
            Op(
                ts=i,
                kind=kind,
                order_id=order_id,
                side=draw(st.sampled_from(Side)),
                price=draw(st.integers(26, 38)),
                qty=draw(st.integers(1, 12)),
                tif=draw(st.sampled_from(TimeInForce)),
                post_only=draw(st.booleans()),
            )
        )
    return ops


def _outcome(result) -> tuple:
    return (
        result.reason,
        [tuple(f) for f in result.fills],
        result.cancelled_qty,
        result.expired_qty,
        result.submitted_qty,
    )


@settings(max_examples=200, deadline=None)
@given(op_streams())
def test_book_matches_the_reference_and_keeps_its_invariants(ops):
    book, reference = OrderBook(CONFIG), ReferenceBook(N_TICKS)
    submitted = filled = cancelled = expired = 0
    for op in ops:
        status_before = book.status(op.order_id)
        depth_before = book.depth(N_TICKS)
        result = book.result(book.apply(op))
        # price-time priority (and every other rule) as the naive model has it
        assert _outcome(result) == _outcome(reference.apply(op)), op
        # nothing crossed rests after matching
        if book.best_bid is not None and book.best_ask is not None:
            assert book.best_bid < book.best_ask
        # cancels and modifies of orders that are not resting do nothing and say why
        if op.kind in (OpKind.CANCEL, OpKind.MODIFY) and status_before is not OrderStatus.ACTIVE:
            assert result.reason is not Reason.NONE
            assert result.fills == [] and result.cancelled_qty == 0
            assert book.depth(N_TICKS) == depth_before
        submitted += result.submitted_qty
        filled += 2 * result.filled_qty  # a fill takes quantity from taker and maker
        cancelled += result.cancelled_qty
        expired += result.expired_qty
        depth = book.depth(N_TICKS)
        resting = sum(level.qty for level in depth.bids + depth.asks)
        assert resting == reference.resting_total()
        # quantity is conserved
        assert submitted == filled + resting + cancelled + expired


@settings(max_examples=200, deadline=None)
@given(op_streams(), st.integers(1, 5))
def test_batch_core_gives_the_per_call_books_fills_and_outcomes(ops, n_chunks):
    book = OrderBook(CONFIG)
    seqs = [book.apply(op) for op in ops]  # matched together at the first observation
    expected = [book.result(seq) for seq in seqs]
    batch = ArrayOrderBook(CONFIG, capacity=1)
    array = ops_array(ops)
    bounds = [len(ops) * k // n_chunks for k in range(n_chunks + 1)]
    fills, reasons = [], []
    for lo, hi in itertools.pairwise(bounds):  # state carries over between calls
        result = batch.process(array[lo:hi])
        fills += [(lo + i, *rest) for i, *rest in result.fills.tolist()]
        reasons += result.reason.tolist()
    assert fills == [(i, *f) for i, r in enumerate(expected) for f in r.fills]
    assert reasons == [int(r.reason) for r in expected]
    assert batch.depth(N_TICKS) == book.depth(N_TICKS)
    for order_id in {op.order_id for op in ops}:
        assert batch.status(order_id) is book.status(order_id)
        assert batch.queue_position(order_id) == book.queue_position(order_id)


def test_batch_and_per_call_agree_on_a_long_seeded_stream():
    stream = StreamConfig(n_ops=30_000, seed=3, n_ticks=2_000)
    ops = random_ops(stream)
    config = OrderBookConfig(n_ticks=stream.n_ticks)
    book = OrderBook(config)
    expected = [book.result(book.apply(op)) for op in as_op_rows(ops)]  # one by one
    batch = ArrayOrderBook(config).process(ops)
    assert len(batch.fills) > 5_000
    assert batch.fills[["taker_id", "maker_id", "price", "qty"]].tolist() == [
        (f.taker_id, f.maker_id, f.price, f.qty) for r in expected for f in r.fills
    ]
    for name in ("reason", "submitted_qty", "cancelled_qty", "expired_qty"):
        assert getattr(batch, name).tolist() == [int(getattr(r, name)) for r in expected]
    # the stream exercises every outcome but duplicate ids (it never reuses one)
    assert set(batch.reason.tolist()) == {int(r) for r in Reason} - {Reason.DUPLICATE_ORDER_ID}


def test_per_call_api_gives_the_batch_cores_fills_on_the_benchmark_stream():
    """bench/order_book.py's stream (1 M operations, seed 0), one call per operation and
    observed now and then, so matched in uneven batches, against one batch."""
    stream = StreamConfig()
    ops = random_ops(stream)
    config = OrderBookConfig(n_ticks=stream.n_ticks)
    batch = ArrayOrderBook(config).process(ops)
    book = OrderBook(config)
    seqs = []
    for i, row in enumerate(ops.tolist()):
        seqs.append(book.apply(row))
        if i % 99_991 == 0:  # observing matches what is pending
            assert book.result(i).reason == batch.reason[i]
    assert seqs == list(range(len(ops)))
    per_call = book.results()
    assert len(per_call.fills) == len(batch.fills) > 300_000
    assert (per_call.fills == batch.fills).all()
    assert (per_call.outcome == batch.outcome).all()
