"""Risk limits the simulator enforces before every rebalance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_engine.simulation.kernels import cap_weights_kernel, turnover_scale_kernel


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

    def cap_weights(self, weights: np.ndarray, sleeves: np.ndarray | None = None) -> np.ndarray:
        """Scale by the Kelly fraction, then down to the gross exposure cap.

        A weight of 1 stands for the whole book, or with ``sleeves`` (each per-symbol sleeve's
        equity) for its sleeve's share of the book. The simulator's compiled loop applies the
        same :func:`~quant_engine.simulation.kernels.cap_weights_kernel`.
        """
        cap = np.nan if self.max_gross_exposure is None else self.max_gross_exposure
        return cap_weights_kernel(
            np.asarray(weights, dtype=float),
            np.zeros(0) if sleeves is None else np.asarray(sleeves, dtype=float),
            float(self.kelly_fraction),
            float(cap),
        )

    def turnover_scale(self, quantity: np.ndarray, price: np.ndarray, equity: float) -> float:
        """Fraction of a rebalance trading ``quantity`` at ``price`` that may trade under the
        turnover cap (:func:`~quant_engine.simulation.kernels.turnover_scale_kernel`, as the
        compiled loop applies it)."""
        cap = np.nan if self.turnover_cap is None else self.turnover_cap
        return turnover_scale_kernel(quantity, price, float(equity), float(cap))

    def breached_drawdown(self, drawdown: float) -> bool:
        return self.drawdown_stop is not None and drawdown <= -self.drawdown_stop
