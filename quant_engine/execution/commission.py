"""Commission of one child order, in currency."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from quant_engine.backtest.costs import CostModel


class CommissionModel(Protocol):
    def commission(self, qty: int, price: float, traded_before: int = 0) -> float:
        """Fee for ``qty`` at ``price``; ``traded_before``: shares of the parent already done."""
        ...


@dataclass(frozen=True)
class PerShare:
    """``rate`` per share with a ``minimum`` per order (0 for no fill)."""

    rate: float = 0.005
    minimum: float = 0.0

    def __post_init__(self) -> None:
        if self.rate < 0 or self.minimum < 0:
            raise ValueError(f"PerShare: rate and minimum must be non-negative: {self}")

    def commission(self, qty: int, price: float, traded_before: int = 0) -> float:
        return max(self.rate * qty, self.minimum) if qty else 0.0


@dataclass(frozen=True)
class BpsCommission:
    """``bps`` of the traded notional (default: the engine's cost model's commission)."""

    bps: float = CostModel().commission_bps

    def __post_init__(self) -> None:
        if self.bps < 0:
            raise ValueError(f"BpsCommission: bps must be non-negative, got {self.bps}")

    def commission(self, qty: int, price: float, traded_before: int = 0) -> float:
        return self.bps / 1e4 * qty * price


@dataclass(frozen=True)
class TieredPerShare:
    """Marginal per-share rates by the parent's cumulative shares: ``tiers`` holds
    ``(up_to_shares, rate)`` pairs in increasing order; the last one applies beyond."""

    tiers: tuple[tuple[float, float], ...] = ((10_000, 0.0035), (100_000, 0.002), (math.inf, 0.001))

    def __post_init__(self) -> None:
        bounds = [b for b, _ in self.tiers]
        if not self.tiers or bounds != sorted(bounds) or any(r < 0 for _, r in self.tiers):
            raise ValueError(f"TieredPerShare: tiers must increase with non-negative rates: {self}")

    def commission(self, qty: int, price: float, traded_before: int = 0) -> float:
        fee, start, end = 0.0, traded_before, traded_before + qty
        lower = 0.0
        for upper, rate in self.tiers:
            fee += rate * max(0.0, min(end, upper) - max(start, lower))
            lower = upper
        return fee + self.tiers[-1][1] * max(0.0, end - max(start, lower))
