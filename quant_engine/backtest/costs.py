"""Transaction costs: commission, half the bid-ask spread, and market impact (square-root or
linear in the share of daily volume traded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

ImpactModel = Literal["square_root", "linear"]


@dataclass(frozen=True)
class CostModel:
    """Cost of trading a notional ``q`` of a name with daily vol ``sigma`` and dollar ADV ``adv``.

    ``cost = q * (commission_bps + half_spread_bps) / 1e4 + q * impact``, where ``impact`` is
    ``impact_coef * sigma * sqrt(q / adv)`` (the square-root law, default) or
    ``impact_coef * q / adv`` (linear in the participation).
    """

    commission_bps: float = 1.0
    half_spread_bps: float = 2.0
    impact_coef: float = 0.1
    impact_model: ImpactModel = "square_root"

    def __post_init__(self) -> None:
        for name, top in (("commission_bps", 1e3), ("half_spread_bps", 1e3), ("impact_coef", 10)):
            value = getattr(self, name)
            if not 0 <= value <= top:  # NaN fails too
                raise ValueError(f"{name} must be a number in [0, {top:g}], got {value!r}")
        if self.impact_model not in ("square_root", "linear"):
            raise ValueError(f"unknown impact model {self.impact_model!r}")

    @property
    def linear_rate(self) -> float:
        return (self.commission_bps + self.half_spread_bps) / 1e4

    def cost(self, notional: np.ndarray, sigma: np.ndarray, adv: np.ndarray) -> np.ndarray:
        """Cost in currency of trading ``notional`` (absolute currency amounts) per name."""
        q = np.abs(notional)
        if self.impact_coef == 0:
            return q * self.linear_rate
        if self.impact_model == "linear":
            return q * self.linear_rate + self.impact_coef * q * (q / adv)
        return q * self.linear_rate + self.impact_coef * sigma * q * np.sqrt(q / adv)
