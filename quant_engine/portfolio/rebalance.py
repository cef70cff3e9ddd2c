"""Target weights to trades: dust, size risk, minimum trade size, sells before buys."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_engine.portfolio.config import ConstructionConfig
from quant_engine.portfolio.kernels import rebalance_kernel, sells_first_kernel


@dataclass(frozen=True)
class WeightRebalance:
    """The weights a rebalance ends at, relative to the equity it was sized on."""

    weights: np.ndarray
    size_risk_discarded_value: float  # currency left in cash because of the volume cap
    skipped_trades: int  # trades under ``min_trade_value`` that were not made


def rebalance_weights(
    target: np.ndarray,
    held: np.ndarray,
    equity: float | np.ndarray,
    config: ConstructionConfig,
    adv: np.ndarray | None = None,
    cost_rate: float = 0.0,
) -> WeightRebalance:
    """Weights after trading from ``held`` towards ``target``.

    ``equity`` is the book's value (cross-sectional) or each name's sleeve value (per-symbol),
    both marked at the prices the trades will fill at; ``held`` is relative to it. Per-symbol
    sleeves keep a position whose side is unchanged; entries reserve ``cost_rate`` when the
    config sizes with costs. ``adv`` (dollar volume known at the decision) drives size risk.
    """
    weights, discarded, skipped = rebalance_kernel(
        np.asarray(target, dtype=float),
        np.asarray(held, dtype=float),
        np.atleast_1d(np.asarray(equity, dtype=float)),
        config.allocation == "per_symbol",
        1.0 / (1.0 + cost_rate) if config.sizes_with_costs else 1.0,
        config.dust_weight,
        np.nan if config.max_volume_share is None or adv is None else config.max_volume_share,
        np.full(len(target), np.nan) if adv is None else np.asarray(adv, dtype=float),
        config.min_trade_value,
    )
    return WeightRebalance(weights, discarded, skipped)


def sells_first(trades: np.ndarray) -> np.ndarray:
    """Indices of the non-zero ``trades``: sells then buys, each in name order."""
    return sells_first_kernel(np.asarray(trades, dtype=float))
