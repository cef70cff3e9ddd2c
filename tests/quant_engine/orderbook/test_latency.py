"""Our orders act on the book only once they arrive; the clock never goes back."""

from __future__ import annotations

import pytest

from quant_engine.orderbook import (
    LatencyModel,
    LatentVenue,
    Op,
    OpKind,
    OrderBook,
    OrderBookConfig,
    OrderStatus,
    Side,
)
from quant_engine.orderbook.streams import StreamConfig, as_op_rows, random_ops

CONFIG = OrderBookConfig(n_ticks=1000)


def venue(base: int, jitter: int = 0, seed: int = 0) -> LatentVenue:
    return LatentVenue(OrderBook(CONFIG), LatencyModel(base, jitter, seed))


def test_order_is_invisible_and_untradeable_until_it_arrives():
    v = venue(base=5)
    assert v.send(Op(10, OpKind.LIMIT, 1, Side.BUY, 100, 7)) == 15
    v.advance(14)
    assert v.book.depth().bids == ()
    # a sell at 100 in the meantime finds no bid and rests instead
    _, early = v.market(Op(14, OpKind.LIMIT, 900, Side.SELL, 100, 3))
    assert early.fills == [] and v.book.best_ask == 100
    arrived = v.advance(15)
    assert [(a.sent_ts, a.arrival_ts) for a in arrived] == [(10, 15)]
    fills = arrived[0].result.fills
    assert [(f.maker_id, f.qty, f.ts) for f in fills] == [(900, 3, 15)]
    assert v.book.resting_qty(1) == 4


def test_cancel_racing_a_fill_loses_when_the_fill_arrives_first():
    v = venue(base=3)
    v.market(Op(0, OpKind.LIMIT, 900, Side.SELL, 100, 5))
    v.send(Op(1, OpKind.LIMIT, 1, Side.BUY, 99, 5))  # arrives at 4
    v.advance(4)
    v.send(Op(5, OpKind.CANCEL, 1))  # arrives at 8
    _, hit = v.market(Op(6, OpKind.MARKET, 901, Side.SELL, 0, 5))
    assert [f.maker_id for f in hit.fills] == [1]
    (arrival,) = v.advance(8)
    assert arrival.result.reason.name == "ALREADY_FILLED"
    assert v.book.status(1) is OrderStatus.FILLED


def test_jittered_arrivals_are_seeded_and_keep_sending_order():
    def arrivals(seed: int) -> list[int]:
        v = venue(base=2, jitter=50, seed=seed)
        return [v.send(Op(t, OpKind.LIMIT, t, Side.BUY, 100, 1)) for t in range(0, 40, 2)]

    first = arrivals(7)
    assert first == arrivals(7)
    assert first != arrivals(8)
    assert first == sorted(first)
    assert all(a >= t + 2 for a, t in zip(first, range(0, 40, 2), strict=True))


def test_time_going_backwards_raises():
    v = venue(base=1)
    v.advance(10)
    with pytest.raises(ValueError, match="time went backwards: 9 < 10"):
        v.send(Op(9, OpKind.CANCEL, 1))
    with pytest.raises(ValueError, match="latency must be non-negative"):
        LatencyModel(base=-1)


def test_a_batch_of_market_operations_gives_what_one_at_a_time_gives():
    stream = as_op_rows(random_ops(StreamConfig(n_ops=3_000, seed=4, n_ticks=1000)))
    ours = [Op(t, OpKind.MARKET, 5_000 + t, Side(t % 2), 0, 7) for t in range(0, 3_000, 97)]

    def run(batch: int) -> list:
        v = venue(base=5, jitter=20, seed=1)
        out, sent = [], iter(ours)
        for lo in range(0, len(stream), batch):
            ops = stream[lo : lo + batch]
            for op in ours:
                if lo <= op.ts < lo + batch:
                    v.send(next(sent))
            out += v.market_batch(ops) if batch > 1 else [v.market(ops[0])]
        return out

    one_by_one = run(1)
    assert sum(len(arrived) for arrived, _ in one_by_one) > 20
    assert run(250) == one_by_one
