"""Brokers behind one protocol: a paper broker (default), Alpaca and ccxt exchanges."""

from quant_engine.brokers.base import (
    Account,
    Broker,
    BrokerError,
    DuplicateClientOrderId,
    MarketClock,
    MarketClosed,
    Order,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
    Position,
)

__all__ = [
    "Account",
    "Broker",
    "BrokerError",
    "DuplicateClientOrderId",
    "MarketClock",
    "MarketClosed",
    "Order",
    "OrderRejected",
    "OrderRequest",
    "OutcomeUnknown",
    "Position",
]
