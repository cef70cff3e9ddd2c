"""Risk limits the simulator enforces before every rebalance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RiskLimits:
    """Book-level limits.

    ``max_gross_exposure``: the book's gross exposure a decision may target, as a fraction of
    equity (1.0 = unlevered); per-symbol sleeves count at their share of the book, so four
    sleeves all long in a book of four are at 1.0.
    ``drawdown_stop``: once equity falls this fraction below its peak (marked at a close), the
    book is liquidated at the next fill and no further decisions are taken.
    ``turnover_cap``: largest traded notional per rebalance, as a fraction of equity; larger
    rebalances are scaled down pro rata.
    ``kelly_fraction``: the strategy's weights are read as full-Kelly bets and scaled by it.
    """

    max_gross_exposure: float | None = None
    drawdown_stop: float | None = None
    turnover_cap: float | None = None
    kelly_fraction: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_gross_exposure", "turnover_cap"):
            value = getattr(self, name)
            if value is not None and not 0 < value < float("inf"):  # NaN fails too
                raise ValueError(f"{name} must be positive, got {value}")
        if self.drawdown_stop is not None and not 0 < self.drawdown_stop < 1:  # NaN fails
            raise ValueError(f"drawdown_stop must be in (0, 1), got {self.drawdown_stop}")
        if not 0 < self.kelly_fraction <= 1:
            raise ValueError(f"kelly_fraction must be in (0, 1], got {self.kelly_fraction}")

    def cap_weights(self, weights: np.ndarray, share: np.ndarray | float = 1.0) -> np.ndarray:
        """Scale by the Kelly fraction, then down to the gross exposure cap.

        ``share`` is the fraction of the book a weight of 1 stands for: 1 for book weights,
        each sleeve's share of equity for per-symbol sleeve weights.
        """
        if self.kelly_fraction != 1.0:
            weights = weights * self.kelly_fraction
        if self.max_gross_exposure is not None:
            gross = float(np.abs(weights) @ np.broadcast_to(share, np.shape(weights)))
            if gross > self.max_gross_exposure:
                weights = weights * (self.max_gross_exposure / gross)
        return weights

    def turnover_scale(self, traded_notional: float, equity: float) -> float:
        """Fraction of a rebalance that may trade under the turnover cap."""
        if self.turnover_cap is None or equity <= 0 or traded_notional <= 0:
            return 1.0
        return min(1.0, self.turnover_cap * equity / traded_notional)

    def breached_drawdown(self, drawdown: float) -> bool:
        return self.drawdown_stop is not None and drawdown <= -self.drawdown_stop
