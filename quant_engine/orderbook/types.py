"""Codes, records and the configuration shared by the per-call book and the batch core.

Prices are integer ticks in ``[0, n_ticks)`` and quantities positive integers, so that both
implementations are exact and agree bit for bit. The integer codes below are the ones stored
in the batch core's operation array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple


@dataclass(frozen=True)
class OrderBookConfig:
    """Prices are integer ticks in ``[0, n_ticks)``; ``tick_size`` converts them to currency.
    The book keeps a ladder of 32 bytes per tick: raise ``n_ticks`` for higher prices."""

    n_ticks: int = 100_000
    tick_size: float = 0.01

    def __post_init__(self) -> None:
        if self.n_ticks < 2 or self.tick_size <= 0:
            raise ValueError(f"invalid book config: {self}")

    def to_ticks(self, price: float) -> int:
        return round(price / self.tick_size)

    def to_price(self, ticks: int) -> float:
        return ticks * self.tick_size


class Side(IntEnum):
    BUY = 0
    SELL = 1


class OpKind(IntEnum):
    LIMIT = 0
    MARKET = 1
    CANCEL = 2
    MODIFY = 3


class TimeInForce(IntEnum):
    GTC = 0  # rests until filled or cancelled
    IOC = 1  # immediate or cancel: the unfilled remainder expires


class OrderStatus(IntEnum):
    UNKNOWN = 0
    ACTIVE = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5


class Reason(IntEnum):
    """Why an operation did nothing (``NONE`` when it was applied)."""

    NONE = 0
    UNKNOWN_ORDER = 1
    ALREADY_FILLED = 2
    ALREADY_CANCELLED = 3
    ALREADY_EXPIRED = 4
    ORDER_REJECTED = 5
    POST_ONLY_WOULD_CROSS = 6
    DUPLICATE_ORDER_ID = 7


# Reason for an operation on an order that is no longer active, by that order's status.
INACTIVE_REASON = {
    OrderStatus.UNKNOWN: Reason.UNKNOWN_ORDER,
    OrderStatus.FILLED: Reason.ALREADY_FILLED,
    OrderStatus.CANCELLED: Reason.ALREADY_CANCELLED,
    OrderStatus.EXPIRED: Reason.ALREADY_EXPIRED,
    OrderStatus.REJECTED: Reason.ORDER_REJECTED,
}


class Fill(NamedTuple):
    """One trade: the taker (incoming) order hit the resting maker order at the maker's price."""

    ts: int
    taker_id: int
    maker_id: int
    taker_side: Side
    price: int
    qty: int


@dataclass(slots=True)
class OrderResult:
    """What one operation did: its fills and the quantity it cancelled or let expire."""

    order_id: int
    reason: Reason = Reason.NONE
    fills: list[Fill] = field(default_factory=list)
    cancelled_qty: int = 0  # removed from the book by a cancel or a cancel/replace
    expired_qty: int = 0  # unfilled remainder of a market or IOC order
    submitted_qty: int = 0  # new open quantity this operation put up (0 for cancels)

    @property
    def ok(self) -> bool:
        return self.reason is Reason.NONE

    @property
    def filled_qty(self) -> int:
        return sum(f.qty for f in self.fills)


class Op(NamedTuple):
    """One operation, as stored row by row in the batch core's array (see ``OP_DTYPE``)."""

    ts: int
    kind: OpKind
    order_id: int
    side: Side = Side.BUY
    price: int = 0
    qty: int = 0
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False


@dataclass(frozen=True)
class Level:
    price: int
    qty: int
    n_orders: int


@dataclass(frozen=True)
class DepthSnapshot:
    """Level-2 view: the best ``n`` price levels each side, best first."""

    bids: tuple[Level, ...]
    asks: tuple[Level, ...]

    @property
    def best_bid(self) -> int | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> int | None:
        return self.asks[0].price if self.asks else None
