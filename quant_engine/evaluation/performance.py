"""Performance metrics of a daily return series."""

from __future__ import annotations

import math

import numpy as np

TRADING_DAYS = 252


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak, as a non-positive fraction."""
    return equity / np.maximum.accumulate(equity) - 1.0


def performance_metrics(
    returns: np.ndarray, turnover: np.ndarray | None = None, periods_per_year: int = TRADING_DAYS
) -> dict[str, float]:
    """Total/annual return, volatility, Sharpe, Sortino, max drawdown, Calmar, turnover, hit rate.

    ``returns`` are simple per-period net returns; Sharpe and Sortino assume a zero risk-free
    rate; ``max_drawdown`` is reported as a non-positive fraction.
    """
    r = np.asarray(returns, dtype=float)
    if r.size == 0:
        raise ValueError("no returns to evaluate")
    equity = np.cumprod(1.0 + r)
    years = r.size / periods_per_year
    total = float(equity[-1] - 1.0)
    annual = float(equity[-1] ** (1.0 / years) - 1.0) if equity[-1] > 0 else -1.0
    std = float(r.std(ddof=1)) if r.size > 1 else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    mean = float(r.mean())
    max_dd = float(drawdown(np.concatenate([[1.0], equity])).min())
    root = math.sqrt(periods_per_year)
    return {
        "total_return": total,
        "annual_return": annual,
        "annual_volatility": std * root,
        "sharpe": mean / std * root if std > 0 else math.nan,
        "sortino": mean / downside * root if downside > 0 else math.nan,
        "max_drawdown": max_dd,
        "calmar": annual / -max_dd if max_dd < 0 else math.nan,
        "avg_daily_turnover": float(np.mean(turnover)) if turnover is not None else math.nan,
        "hit_rate": float(np.mean(r > 0)),
        "n_periods": float(r.size),
    }
