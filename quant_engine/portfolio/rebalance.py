"""What a rebalance ends at: the weights, the value size risk left in cash, the trades skipped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WeightRebalance:
    """The weights a rebalance ends at, relative to the equity it was sized on."""

    weights: np.ndarray
    size_risk_discarded_value: float  # currency left in cash because of the volume cap
    skipped_trades: int  # trades under ``min_trade_value`` or ``min_notional`` not made
