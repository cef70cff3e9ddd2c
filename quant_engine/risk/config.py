"""Risk limits of the gate; every limit is optional (``None`` switches it off)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class RiskConfig:
    """Pre-trade limits, the kill-switch triggers, REDUCE-only and shadow mode.

    Money limits are in the account currency. ``max_drawdown_pct`` and
    ``max_price_deviation_pct`` are fractions (0.05 = 5%); the deviation is checked for limit
    orders (their limit) and market orders (the price they were decided at) against the last
    quote. The daily loss is measured from the previous close's equity (the broker's, where it
    reports one, else the last equity the gate saw before the day changed in ``timezone``).
    ``max_position_quantity`` caps the shares held in any symbol, ``position_quantity_limits``
    per symbol. ``require_state``: the account has traded, so a missing state file stops the
    gate (fails closed) instead of starting untripped.
    """

    state_path: str = "risk_state.json"
    max_order_value: Decimal | None = None
    max_order_quantity: Decimal | None = None
    max_position_value: Decimal | None = None
    max_position_quantity: Decimal | None = None
    position_quantity_limits: Mapping[str, Decimal] = field(default_factory=dict)
    max_gross_exposure: Decimal | None = None
    max_positions: int | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    max_price_deviation_pct: Decimal | None = None  # a limit price this far from the last price
    max_price_age_seconds: float | None = None
    dedup_window_seconds: float = 1.0
    allowed_symbols: frozenset[str] | None = None  # None: every symbol not blocked
    blocked_symbols: frozenset[str] = frozenset()
    reduce_only: bool = False
    shadow_mode: bool = False
    shadow_initial_cash: Decimal | None = None  # None: the shadow book starts as a broker copy
    timezone: str = "America/New_York"
    require_state: bool = False

    def __post_init__(self) -> None:
        for name in (
            "max_order_value",
            "max_order_quantity",
            "max_position_value",
            "max_position_quantity",
            "max_gross_exposure",
            "max_daily_loss",
            "max_price_deviation_pct",
            "shadow_initial_cash",
        ):
            value = getattr(self, name)
            if value is not None and Decimal(value) < 0:
                raise ValueError(f"risk limit {name}={value} must be >= 0")
        for symbol, limit in self.position_quantity_limits.items():
            if Decimal(limit) < 0:
                raise ValueError(f"position quantity limit of {symbol}={limit} must be >= 0")
        for name in ("max_positions", "max_orders_per_minute"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"risk limit {name}={value} must be >= 0")
        if self.max_drawdown_pct is not None and not 0 < self.max_drawdown_pct < 1:
            raise ValueError(f"max_drawdown_pct={self.max_drawdown_pct} must be in (0, 1)")
        if self.max_price_age_seconds is not None and self.max_price_age_seconds <= 0:
            raise ValueError(f"max_price_age_seconds={self.max_price_age_seconds} must be > 0")
        if self.dedup_window_seconds < 0:
            raise ValueError(f"dedup_window_seconds={self.dedup_window_seconds} must be >= 0")
        ZoneInfo(self.timezone)
