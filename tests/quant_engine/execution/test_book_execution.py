"""Running a parent order against the order book: fills at arrival, in-flight, no lookahead."""

from __future__ import annotations

import pytest

from quant_engine.execution.algorithms import POV, TWAP, VWAP
from quant_engine.execution.book import BookExecutionConfig, run_on_book
from quant_engine.execution.commission import PerShare
from quant_engine.execution.report import ParentOrder
from quant_engine.orderbook import LatencyModel, Op, OpKind, OrderBookConfig, Side
from quant_engine.orderbook.streams import StreamConfig, as_op_rows, random_ops

BOOK = OrderBookConfig(n_ticks=1000, tick_size=0.01)
MARKET = [
    Op(0, OpKind.LIMIT, 0, Side.SELL, 100, 5),
    Op(0, OpKind.LIMIT, 1, Side.SELL, 101, 100),
    Op(0, OpKind.LIMIT, 2, Side.BUY, 99, 50),
    Op(150, OpKind.LIMIT, 3, Side.SELL, 100, 10),
    Op(205, OpKind.MARKET, 4, Side.BUY, 0, 10),  # someone else, while our child travels
    Op(400, OpKind.LIMIT, 5, Side.BUY, 50, 1),
]


def run(latency: int, market=MARKET, qty: int = 20):
    config = BookExecutionConfig(
        n_slots=2, slot_length=100, n_history=0, latency=LatencyModel(latency), book=BOOK
    )
    return run_on_book(ParentOrder(Side.BUY, qty, 100), market, TWAP(), PerShare(0.01), config)


def test_children_fill_against_the_book_as_it_is_when_they_arrive():
    report = run(latency=10)
    children = report.children
    assert children["timestamp"].to_list() == [100, 200]
    assert children["child_qty"].to_list() == [10, 10]
    assert children["filled_qty"].to_list() == [10, 10]
    # first child: 5 at 1.00 then 5 at 1.01; the second arrives after the other buyer took the
    # new offer at 1.00, so it pays 1.01
    assert children["price"].to_list() == pytest.approx([1.005, 1.01])
    assert children["reference_price"].to_list() == pytest.approx([0.995, 0.995])
    assert report.arrival_price == pytest.approx(0.995)
    paid = 10 * 1.005 + 10 * 1.01 - 20 * 0.995
    assert report.execution_bps == pytest.approx(paid / (20 * 0.995) * 1e4)
    assert report.commission_bps == pytest.approx(0.2 / (20 * 0.995) * 1e4)
    assert report.final_price == pytest.approx(1.00)


def test_without_latency_the_second_child_beats_the_other_buyer():
    assert run(latency=0).children["price"].to_list() == pytest.approx([1.005, 1.00])


def test_children_in_flight_are_not_sent_twice():
    report = run(latency=250)  # both children still travel when the second is sized
    assert report.children["child_qty"].to_list() == [10, 10]
    assert report.filled == 20


def test_a_thin_book_leaves_quantity_unfilled():
    report = run(latency=0, qty=400)
    # the first child's unfilled remainder expires and goes back to the schedule
    assert report.children["child_qty"].to_list() == [200, 400 - 105]
    assert report.children["filled_qty"].to_list() == [105, 10]  # all that was offered
    assert report.opportunity_bps > 0


@pytest.mark.parametrize("algorithm", [TWAP(), VWAP(lookback=3), POV(rate=0.3)])
def test_changing_later_market_flow_changes_no_earlier_child(algorithm):
    stream = random_ops(StreamConfig(n_ops=12_000, seed=5, n_ticks=2_000))
    ops = as_op_rows(stream)
    cut = 6_000 + 3 * 500  # the fourth slot's decision time
    altered = ops[:cut] + [op._replace(qty=op.qty * 3) for op in ops[cut:]]
    config = BookExecutionConfig(
        n_slots=8,
        slot_length=500,
        n_history=6,
        latency=LatencyModel(20, 30, seed=2),
        book=OrderBookConfig(n_ticks=2_000),
    )
    parent = ParentOrder(Side.SELL, 4_000, 6_000)
    before, after = (
        run_on_book(parent, flow, algorithm, PerShare(0.0), config).children
        for flow in (ops, altered)
    )
    assert after[:3].equals(before[:3])
    assert after["child_qty"][3] == before["child_qty"][3]
    assert not after.equals(before)
    assert before["child_qty"].sum() == 4_000


def test_market_out_of_time_order_raises():
    with pytest.raises(ValueError, match="market operations must be in time order"):
        run(latency=0, market=list(reversed(MARKET)))
