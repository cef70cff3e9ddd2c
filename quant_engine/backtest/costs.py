"""Transaction costs: commission, half the bid-ask spread, and square-root market impact."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CostModel:
    """Cost of trading a notional ``q`` of a name with daily vol ``sigma`` and dollar ADV ``adv``.

    ``cost = q * (commission_bps + half_spread_bps) / 1e4``
    ``     + impact_coef * sigma * q * sqrt(q / adv)`` (the square-root impact law).
    """

    commission_bps: float = 1.0
    half_spread_bps: float = 2.0
    impact_coef: float = 0.1

    def __post_init__(self) -> None:
        if min(self.commission_bps, self.half_spread_bps, self.impact_coef) < 0:
            raise ValueError("costs must be non-negative")

    @property
    def linear_rate(self) -> float:
        return (self.commission_bps + self.half_spread_bps) / 1e4

    def cost(self, notional: np.ndarray, sigma: np.ndarray, adv: np.ndarray) -> np.ndarray:
        """Cost in currency of trading ``notional`` (absolute currency amounts) per name."""
        q = np.abs(notional)
        return q * self.linear_rate + self.impact_coef * sigma * q * np.sqrt(q / adv)
