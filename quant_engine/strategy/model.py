"""The protocol for external strategy models: a context in, decisions with reasons out.

A model is called once per decision time with a :class:`StrategyContext` (which holds no bar
after that time) and returns :class:`Decisions`: target portfolio weights, explicit orders, or
both, each carrying the reason it was made. The event-driven simulator executes them (hand
the model to :class:`~quant_engine.simulation.Simulator`, or wrap it in
:class:`~quant_engine.simulation.ModelStrategy` to give it exit rules); the model never trades
itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from quant_engine.strategy.context import StrategyContext


@dataclass(frozen=True)
class TargetWeight:
    """Hold ``weight`` of equity in ``symbol`` (negative is short, 0 is flat)."""

    symbol: str
    weight: float
    reason: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.weight):
            raise ValueError(f"target weight of {self.symbol} is {self.weight}")


@dataclass(frozen=True)
class OrderIntent:
    """Trade ``quantity`` of ``symbol`` (positive buys, negative sells), at market unless a
    ``limit_price`` is given."""

    symbol: str
    quantity: float
    reason: str
    limit_price: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.quantity) and self.quantity != 0):
            raise ValueError(f"order in {self.symbol}: quantity {self.quantity} must be non-zero")
        if self.limit_price is not None and not self.limit_price > 0:
            raise ValueError(f"order in {self.symbol}: limit price {self.limit_price} must be > 0")


@dataclass(frozen=True)
class Decisions:
    """What a model decided at ``timestamp``: one target weight per symbol at most, and
    orders. Symbols with no target weight keep their positions."""

    timestamp: datetime
    weights: tuple[TargetWeight, ...] = ()
    orders: tuple[OrderIntent, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for target in self.weights:
            if target.symbol in seen:
                raise ValueError(f"decisions at {self.timestamp}: two weights for {target.symbol}")
            seen.add(target.symbol)

    def weight_map(self) -> dict[str, float]:
        """Target weights by symbol."""
        return {t.symbol: t.weight for t in self.weights}

    def reasons(self) -> dict[str, str]:
        """The reason behind each symbol's target weight."""
        return {t.symbol: t.reason for t in self.weights}

    @property
    def gross_weight(self) -> float:
        return math.fsum(abs(t.weight) for t in self.weights)


@runtime_checkable
class StrategyModel(Protocol):
    """An external strategy: called once per decision time, it may not trade itself."""

    def decide(self, ctx: StrategyContext) -> Decisions: ...


def run_model(model: StrategyModel, ctx: StrategyContext) -> Decisions:
    """Call ``model`` and check that what it returns is usable at the context's time."""
    decisions = model.decide(ctx)
    if not isinstance(decisions, Decisions):
        raise TypeError(f"{type(model).__name__}.decide returned {type(decisions).__name__}")
    if decisions.timestamp != ctx.timestamp:
        raise ValueError(
            f"{type(model).__name__} decided for {decisions.timestamp}, asked at {ctx.timestamp}"
        )
    known = set(ctx.symbols)
    named = {t.symbol for t in decisions.weights} | {o.symbol for o in decisions.orders}
    unknown = sorted(named - known)
    if unknown:
        raise ValueError(f"{type(model).__name__} decided on symbols with no bars: {unknown}")
    return decisions
