"""Execute a parent order's children against the limit order book, through latency.

Other participants' operations are replayed in time order. At each slot start (``start``,
``start + slot_length``, ...) the algorithm sizes a child from the traded volume of the buckets
that have ended and from what is neither filled nor in flight, and sends it as a market order;
it trades only when it arrives, against whatever the book then holds. The arrival price is the
mid at ``start``; the final price the mid when the last slot has ended and every child arrived
(the last trade's price while the book is one-sided).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from quant_engine.execution.algorithms import ExecutionAlgorithm, SliceContext
from quant_engine.execution.commission import CommissionModel
from quant_engine.execution.report import CHILD_COLUMNS, ExecutionReport, ParentOrder
from quant_engine.orderbook import (
    Arrival,
    LatencyModel,
    LatentVenue,
    Op,
    OpKind,
    OrderBook,
    OrderBookConfig,
    OrderResult,
)


@dataclass(frozen=True)
class BookExecutionConfig:
    """Slots of ``slot_length`` clock units from the parent's start; ``n_history`` earlier
    buckets of the same length feed volume-driven algorithms (VWAP's profile, POV)."""

    n_slots: int = 10
    slot_length: int = 1_000
    n_history: int = 20
    latency: LatencyModel = field(default_factory=LatencyModel)
    book: OrderBookConfig = field(default_factory=OrderBookConfig)

    def __post_init__(self) -> None:
        if self.n_slots < 1 or self.slot_length < 1 or self.n_history < 0:
            raise ValueError(f"invalid book execution config: {self}")


def _mark(book: OrderBook, last_trade: float, when: int) -> float:
    """The mid price, or the last trade's price while the book is one-sided."""
    bid, ask = book.best_bid, book.best_ask
    if bid is not None and ask is not None:
        return book.config.to_price(bid + ask) / 2.0
    if math.isnan(last_trade):
        raise ValueError(f"no two-sided book and no trade by time {when} to take a price from")
    return last_trade


def run_on_book(
    parent: ParentOrder,
    market: Iterable[Op],
    algorithm: ExecutionAlgorithm,
    commission: CommissionModel,
    config: BookExecutionConfig | None = None,
) -> ExecutionReport:
    """Trade ``parent`` (``start``: an integer time of the book's clock) amid ``market``."""
    config = config or BookExecutionConfig()
    market = list(market)
    times = [op.ts for op in market]
    if times != sorted(times):
        raise ValueError("market operations must be in time order")
    start = int(parent.start)
    length, n_slots = config.slot_length, config.n_slots
    first_bucket = start - config.n_history * length
    volume = np.zeros(config.n_history + n_slots, dtype=np.int64)
    venue = LatentVenue(OrderBook(config.book), config.latency)
    next_id = max((op.order_id for op in market), default=-1) + 1
    child_slot: dict[int, int] = {}
    sent = np.zeros(n_slots, dtype=np.int64)
    filled = np.zeros(n_slots, dtype=np.int64)
    value = np.zeros(n_slots)  # currency paid per slot's child
    reference = np.full(n_slots, math.nan)
    in_flight, done = 0, 0
    last_trade = math.nan

    def record(result: OrderResult) -> None:
        nonlocal in_flight, done, last_trade
        for fill in result.fills:
            last_trade = config.book.to_price(fill.price)
            bucket = (fill.ts - first_bucket) // length
            if 0 <= bucket < len(volume):
                volume[bucket] += fill.qty
        slot = child_slot.get(result.order_id)
        if slot is not None:
            qty = result.filled_qty
            filled[slot] += qty
            value[slot] += sum(config.book.to_price(f.price) * f.qty for f in result.fills)
            in_flight -= result.submitted_qty
            done += qty

    def arrive(arrivals: list[Arrival]) -> None:
        for arrival in arrivals:
            record(arrival.result)

    slot, cursor = 0, 0
    arrival_price = math.nan
    end = start + n_slots * length
    while slot < n_slots or venue.in_flight or cursor < len(market):
        decision = start + slot * length if slot < n_slots else None
        if cursor < len(market) and (decision is None or market[cursor].ts < decision):
            if decision is None and market[cursor].ts > end and not venue.in_flight:
                break
            # Before a decision, every operation up to it in one batch; after the last slot,
            # one at a time (whether to go on depends on what is still in flight).
            stop = cursor + 1 if decision is None else bisect_left(times, decision, lo=cursor)
            for arrived, result in venue.market_batch(market[cursor:stop]):
                arrive(arrived)
                record(result)
            cursor = stop
            continue
        if decision is None:  # no market left: let the last children arrive
            arrive(venue.advance(venue.now + config.latency.base + config.latency.jitter + 1))
            continue
        arrive(venue.advance(decision))
        reference[slot] = _mark(venue.book, last_trade, decision)
        if slot == 0:
            arrival_price = float(reference[0])
        ctx = SliceContext(
            slot,
            n_slots,
            parent.quantity,
            parent.quantity - done - in_flight,
            volume[: config.n_history + slot].astype(float),
            config.n_history,
        )
        child = algorithm.child_qty(ctx)
        if not 0 <= child <= ctx.remaining:
            raise ValueError(f"{algorithm.name} sized a child of {child} with {ctx.remaining} left")
        if child:
            child_slot[next_id] = slot
            venue.send(Op(decision, OpKind.MARKET, next_id, parent.side, 0, child))
            next_id += 1
            in_flight += child
            sent[slot] = child
        slot += 1
    final_time = max(end, venue.now)
    venue.advance(final_time)
    fees, traded = [], 0
    prices = np.divide(value, filled, out=reference.copy(), where=filled > 0)
    for qty, price in zip(filled.tolist(), prices.tolist(), strict=True):
        fees.append(commission.commission(qty, price, traded))
        traded += qty
    children = pl.DataFrame(
        {
            "timestamp": [start + k * length for k in range(n_slots)],
            **dict(zip(CHILD_COLUMNS, (sent, filled, reference, prices, fees), strict=True)),
        },
        schema_overrides=CHILD_COLUMNS,
    )
    return ExecutionReport(
        algorithm.name, parent, arrival_price, _mark(venue.book, last_trade, final_time), children
    )
