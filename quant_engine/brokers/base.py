"""The broker protocol and the values it speaks in: accounts, positions, orders, the clock.

Quantities and prices are ``Decimal`` (brokers send them as strings; nothing is rounded on the
way). A position's quantity is signed: negative is short. Errors say what is known of an order's
fate: :class:`OrderRejected` means it was not placed, :class:`DuplicateClientOrderId` means it
was placed before, and :class:`OutcomeUnknown` means it may or may not have been (look it up by
its client order id before doing anything else).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TimeInForce = Literal["day", "gtc", "ioc", "opg"]  # opg: market-on-open (equities)
OrderStatus = Literal[
    "new", "accepted", "partially_filled", "filled", "cancelled", "rejected", "expired"
]
OPEN_STATUSES: frozenset[str] = frozenset({"new", "accepted", "partially_filled"})
MAX_CLIENT_ORDER_ID = 48  # characters; Alpaca's limit, the tightest of our brokers


@dataclass(frozen=True)
class OrderRequest:
    """An order we intend to place, named by its deterministic client order id."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = "day"
    reference_price: Decimal | None = None  # the price it was decided at (market orders)

    def __post_init__(self) -> None:
        if not 0 < len(self.client_order_id) <= MAX_CLIENT_ORDER_ID:
            raise ValueError(
                f"client order id {self.client_order_id!r} must have 1 to "
                f"{MAX_CLIENT_ORDER_ID} characters"
            )
        if self.side not in ("buy", "sell"):
            raise ValueError(f"order {self.client_order_id}: unknown side {self.side!r}")
        if self.quantity <= 0:
            raise ValueError(f"order {self.client_order_id}: quantity {self.quantity} must be > 0")
        if (self.order_type == "limit") != (self.limit_price is not None):
            raise ValueError(f"order {self.client_order_id}: a limit price goes with limit orders")


@dataclass(frozen=True)
class Order:
    """The broker's view of an order."""

    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    status: OrderStatus
    filled_quantity: Decimal = Decimal(0)
    average_fill_price: Decimal | None = None
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    submitted_at: datetime | None = None
    reason: str | None = None  # why it was rejected or cancelled, when the broker says

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


@dataclass(frozen=True)
class Position:
    symbol: str
    quantity: Decimal  # signed: negative is short
    average_price: Decimal
    market_price: Decimal | None = None


@dataclass(frozen=True)
class Account:
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    currency: str = "USD"
    previous_close_equity: Decimal | None = None  # where the broker reports it


@dataclass(frozen=True)
class MarketClock:
    timestamp: datetime
    is_open: bool
    next_open: datetime | None = None
    next_close: datetime | None = None


class BrokerError(Exception):
    """A broker call failed; subclasses say what is known of the order."""


class OrderRejected(BrokerError):
    """The broker refused the order: it was not placed (buying power, wash trade, precision)."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class DuplicateClientOrderId(BrokerError):
    """An order with this client order id exists already: it was placed by an earlier attempt."""


class OutcomeUnknown(BrokerError):
    """The call may or may not have taken effect (timeout, 5xx, 429 after the client's retries)."""


class MarketClosed(BrokerError):
    """The market does not take this order now."""


@runtime_checkable
class Broker(Protocol):
    """What the order-management layer needs of a broker account."""

    name: str

    def account(self) -> Account: ...

    def positions(self) -> dict[str, Position]: ...

    def open_orders(self) -> list[Order]: ...

    def order_by_client_id(self, client_order_id: str) -> Order | None: ...

    def submit(self, request: OrderRequest) -> Order: ...

    def cancel(self, broker_order_id: str) -> None: ...

    def clock(self) -> MarketClock: ...
