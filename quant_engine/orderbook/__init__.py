"""Limit order book: price-time matching, depth, queue position, latency; per call or in batch."""

from quant_engine.orderbook.book import OrderBook
from quant_engine.orderbook.core import FILL_DTYPE, OP_DTYPE, ArrayOrderBook, BatchResult, ops_array
from quant_engine.orderbook.latency import Arrival, LatencyModel, LatentVenue
from quant_engine.orderbook.types import (
    DepthSnapshot,
    Fill,
    Level,
    Op,
    OpKind,
    OrderBookConfig,
    OrderResult,
    OrderStatus,
    Reason,
    Side,
    TimeInForce,
)

__all__ = [
    "FILL_DTYPE",
    "OP_DTYPE",
    "ArrayOrderBook",
    "Arrival",
    "BatchResult",
    "DepthSnapshot",
    "Fill",
    "LatencyModel",
    "LatentVenue",
    "Level",
    "Op",
    "OpKind",
    "OrderBook",
    "OrderBookConfig",
    "OrderResult",
    "OrderStatus",
    "Reason",
    "Side",
    "TimeInForce",
    "ops_array",
]
