"""A broker that takes one call at a time, for use from a live loop's worker threads.

HTTP clients (a ``requests`` session, a ccxt exchange) are not safe to share between threads,
and an order decision needs the positions it read to stay current until it submits. Every call
goes through one re-entrant lock; ``hold()`` keeps it across several calls.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from quant_engine.brokers.base import (
    Account,
    Broker,
    MarketClock,
    Order,
    OrderRequest,
    Position,
)


class ThreadSafeBroker:
    """Wraps ``broker`` so that its calls never overlap."""

    def __init__(self, broker: Broker) -> None:
        self.name = broker.name
        self._broker = broker
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"ThreadSafeBroker({self._broker!r})"

    @contextmanager
    def hold(self) -> Iterator[ThreadSafeBroker]:
        """Keep other threads out across several calls (read positions, then submit)."""
        with self._lock:
            yield self

    def account(self) -> Account:
        with self._lock:
            return self._broker.account()

    def positions(self) -> dict[str, Position]:
        with self._lock:
            return dict(self._broker.positions())

    def open_orders(self) -> list[Order]:
        with self._lock:
            return list(self._broker.open_orders())

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        with self._lock:
            return self._broker.order_by_client_id(client_order_id)

    def submit(self, request: OrderRequest) -> Order:
        with self._lock:
            return self._broker.submit(request)

    def cancel(self, broker_order_id: str) -> None:
        with self._lock:
            self._broker.cancel(broker_order_id)

    def clock(self) -> MarketClock:
        with self._lock:
            return self._broker.clock()
