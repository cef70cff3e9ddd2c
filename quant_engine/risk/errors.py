"""Why the gate refused an order: a reason code and a message naming the numbers."""

from __future__ import annotations

from quant_engine.brokers.base import OrderRejected

KILL_SWITCH = "kill_switch"
REDUCE_ONLY = "reduce_only"
BLOCKED_SYMBOL = "blocked_symbol"
NOT_ALLOWED = "symbol_not_allowed"
MAX_ORDER_VALUE = "max_order_value"
MAX_ORDER_QUANTITY = "max_order_quantity"
MAX_POSITION_VALUE = "max_position_value"
MAX_POSITION_QUANTITY = "max_position_quantity"
MAX_GROSS_EXPOSURE = "max_gross_exposure"
MAX_POSITIONS = "max_positions"
RATE_LIMIT = "rate_limit"
DUPLICATE_ORDER = "duplicate_order"
PRICE_DEVIATION = "price_deviation"
STALE_PRICE = "stale_price"
NO_PRICE = "no_price"


class RiskRejected(OrderRejected):
    """The risk gate refused the order before it reached the broker (it was not placed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"risk gate [{code}]: {message}", code=code)


class RiskStateError(RuntimeError):
    """The persisted risk state cannot be read: the gate refuses to start rather than reset it."""
