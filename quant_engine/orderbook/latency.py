"""Latency between sending an order and its arrival at the book.

Our operations travel for ``base + U[0, jitter]`` time units (seeded) and act on the book only
at arrival; arrivals keep the order they were sent in, as on one connection. Other
participants' flow is given at its own (arrival) time. At equal times our arrived operations go
first.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quant_engine.orderbook.book import OrderBook
from quant_engine.orderbook.types import Op, OrderResult


@dataclass(frozen=True)
class LatencyModel:
    """Travel time of one of our operations: ``base`` plus uniform jitter in ``[0, jitter]``."""

    base: int = 0
    jitter: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.base < 0 or self.jitter < 0:
            raise ValueError(f"latency must be non-negative: {self}")


@dataclass(frozen=True)
class Arrival:
    """One of our operations after it reached the book."""

    sent_ts: int
    arrival_ts: int
    result: OrderResult


class LatentVenue:
    """An :class:`OrderBook` reached through a :class:`LatencyModel`, with a monotonic clock."""

    def __init__(self, book: OrderBook, latency: LatencyModel) -> None:
        self.book = book
        self.latency = latency
        self._rng = np.random.default_rng(latency.seed)
        self._pending: list[tuple[int, int, int, Op]] = []  # (arrival, seq, sent, op)
        self._seq = 0
        self._last_arrival = -(2**62)
        self.now = -(2**62)

    def send(self, op: Op) -> int:
        """Send one of our operations at ``op.ts``; returns when it will reach the book."""
        self._check_time(op.ts)
        delay = self.latency.base
        if self.latency.jitter:
            delay += int(self._rng.integers(0, self.latency.jitter + 1))
        arrival = max(op.ts + delay, self._last_arrival)
        self._last_arrival = arrival
        heapq.heappush(self._pending, (arrival, self._seq, op.ts, op))
        self._seq += 1
        return arrival

    def advance(self, ts: int) -> list[Arrival]:
        """Move the clock to ``ts``, applying our operations that have arrived by then."""
        applied = self._apply_arrived(ts)
        if not applied:
            return []
        first = applied[0][2]
        return self._arrivals(applied, self.book.results().order_results(first), first)

    def market(self, op: Op) -> tuple[list[Arrival], OrderResult]:
        """Apply another participant's operation at ``op.ts`` (after ours arrived by then)."""
        return self.market_batch([op])[0]

    def market_batch(self, ops: Sequence[Op]) -> list[tuple[list[Arrival], OrderResult]]:
        """``market`` for each operation in turn, with the same arrivals and results; the book
        matches them all in one batch instead of one per operation."""
        steps = [(self._apply_arrived(op.ts), self.book.apply(op)) for op in ops]
        if not steps:
            return []
        first = steps[0][0][0][2] if steps[0][0] else steps[0][1]
        results = self.book.results().order_results(first)  # all from this call
        return [
            (self._arrivals(applied, results, first), results[seq - first])
            for applied, seq in steps
        ]

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def _apply_arrived(self, ts: int) -> list[tuple[int, int, int]]:
        """Move the clock to ``ts`` and send our arrived operations into the book: (sent,
        arrival, the book's sequence number) of each."""
        self._check_time(ts)
        self.now = ts
        applied = []
        while self._pending and self._pending[0][0] <= ts:
            arrival, _, sent, op = heapq.heappop(self._pending)
            applied.append((sent, arrival, self.book.apply(op._replace(ts=arrival))))
        return applied

    @staticmethod
    def _arrivals(
        applied: list[tuple[int, int, int]], results: list[OrderResult], first: int
    ) -> list[Arrival]:
        """``applied`` as arrivals, their results in ``results`` from sequence number ``first``."""
        return [Arrival(sent, arrival, results[seq - first]) for sent, arrival, seq in applied]

    def _check_time(self, ts: int) -> None:
        if ts < self.now:
            raise ValueError(f"time went backwards: {ts} < {self.now}")
