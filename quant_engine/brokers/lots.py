"""Lot rules of a market (quantity step, price tick, minimums) and rounding an intent to them."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal


@dataclass(frozen=True)
class LotRules:
    """What an exchange accepts for one symbol; ``None`` means no rule.

    The one type of trading rules: the order management rounds its orders with it, and the
    decision core's planner gets the same step and minimum notional as floats.
    """

    symbol: str = ""  # "" for a default that applies to symbols without rules of their own
    quantity_step: Decimal | None = None
    price_tick: Decimal | None = None
    min_quantity: Decimal | None = None
    max_quantity: Decimal | None = None
    min_notional: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("quantity_step", "price_tick"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{self.symbol}: {name} {value} must be > 0")

    @property
    def lot(self) -> Decimal:
        """The quantity step (0 where quantities are not stepped)."""
        return self.quantity_step or Decimal(0)

    def round_down(self, quantity: Decimal) -> Decimal:
        """``quantity`` (>= 0) rounded down to a whole number of steps."""
        if self.quantity_step is None:
            return quantity
        steps = (quantity / self.quantity_step).to_integral_value(rounding=ROUND_DOWN)
        return steps * self.quantity_step

    def is_on_step(self, quantity: Decimal) -> bool:
        return self.quantity_step is None or quantity % self.quantity_step == 0

    def is_on_tick(self, price: Decimal) -> bool:
        return self.price_tick is None or price % self.price_tick == 0

    def problem(self, quantity: Decimal, price: Decimal | None) -> str | None:
        """Why ``quantity`` (at ``price`` where known) would be refused, or None."""
        if not self.is_on_step(quantity):
            return f"quantity {quantity} is not a multiple of the step {self.quantity_step}"
        if self.min_quantity is not None and quantity < self.min_quantity:
            return f"quantity {quantity} is below the minimum {self.min_quantity}"
        if self.max_quantity is not None and quantity > self.max_quantity:
            return f"quantity {quantity} is above the maximum {self.max_quantity}"
        if price is not None and self.min_notional is not None:
            notional = quantity * price
            if notional < self.min_notional:
                return f"notional {notional} is below the minimum {self.min_notional}"
        return None


WHOLE_SHARES = LotRules(quantity_step=Decimal(1))
"""The rules of a symbol the broker gives none for: whole shares, no minimum."""


@dataclass(frozen=True)
class RoundedQuantity:
    """An intended quantity rounded down to the lot, and whether the result can be traded."""

    symbol: str
    intended: Decimal
    quantity: Decimal  # rounded down to the step (and capped at the maximum)
    reason: str | None = None  # why it cannot be traded, when it cannot

    @property
    def tradable(self) -> bool:
        return self.reason is None and self.quantity > 0


def round_to_lot(
    rules: LotRules, intended: Decimal, price: Decimal | None = None
) -> RoundedQuantity:
    """Round ``intended`` (> 0) down to the lot; say when it falls below a minimum.

    Rounding is always down, so that an order never exceeds the intent (nor the cash it was
    sized from). ``price`` is needed for the minimum-notional check; without it that check is
    left to the exchange.
    """
    if intended <= 0:
        raise ValueError(f"{rules.symbol}: intended quantity {intended} must be > 0")
    quantity = intended
    if rules.max_quantity is not None:
        quantity = min(quantity, rules.max_quantity)
    quantity = rules.round_down(quantity)
    if quantity <= 0:
        reason = f"intended quantity {intended} is less than one step {rules.quantity_step}"
        return RoundedQuantity(rules.symbol, intended, Decimal(0), reason)
    return RoundedQuantity(rules.symbol, intended, quantity, rules.problem(quantity, price))


def round_price_to_tick(rules: LotRules, price: Decimal, side: str) -> Decimal:
    """A limit price on the tick, never more aggressive than asked (buys down, sells up)."""
    if rules.price_tick is None:
        return price
    ticks = price / rules.price_tick
    rounding = ROUND_DOWN if side == "buy" else ROUND_UP
    return ticks.to_integral_value(rounding=rounding) * rules.price_tick
