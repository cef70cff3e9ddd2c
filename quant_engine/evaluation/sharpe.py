"""How much to trust a Sharpe ratio: a block-bootstrap interval and the deflated Sharpe ratio."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from quant_engine.evaluation.performance import TRADING_DAYS

EULER_GAMMA = 0.5772156649015329


def sharpe(returns: np.ndarray, periods_per_year: int = TRADING_DAYS) -> float:
    """Annualized Sharpe ratio (zero risk-free rate)."""
    r = np.asarray(returns, dtype=float)
    std = r.std(ddof=1)
    return float(r.mean() / std * math.sqrt(periods_per_year)) if std > 0 else math.nan


def bootstrap_sharpe_ci(
    returns: np.ndarray,
    n_boot: int = 2000,
    block: int = 20,
    confidence: float = 0.95,
    seed: int = 0,
    periods_per_year: int = TRADING_DAYS,
) -> tuple[float, float]:
    """Confidence interval of the annualized Sharpe by a moving-block bootstrap.

    Blocks of ``block`` consecutive returns keep short-range autocorrelation; percentiles of
    the resampled Sharpe ratios give the interval.
    """
    r = np.asarray(returns, dtype=float)
    if r.size < 2 * block:
        raise ValueError(f"need at least {2 * block} returns for blocks of {block}")
    rng = np.random.default_rng(seed)
    n_blocks = math.ceil(r.size / block)
    starts = rng.integers(0, r.size - block + 1, size=(n_boot, n_blocks))
    samples = r[(starts[:, :, None] + np.arange(block)).reshape(n_boot, -1)[:, : r.size]]
    means, stds = samples.mean(axis=1), samples.std(axis=1, ddof=1)
    ratios = np.where(stds > 0, means / np.where(stds > 0, stds, 1), 0) * math.sqrt(
        periods_per_year
    )
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def deflated_sharpe_ratio(
    returns: np.ndarray, n_trials: int, trial_sharpes: np.ndarray | None = None
) -> float:
    """Probability that the true Sharpe beats the best of ``n_trials`` unskilled strategies.

    Bailey and Lopez de Prado (2014): the observed per-period Sharpe is compared with the
    expected maximum of ``n_trials`` Sharpe ratios under no skill, accounting for skewness and
    kurtosis of the returns. The spread of Sharpe ratios across trials comes from
    ``trial_sharpes`` (per period) when given, else from the estimator's own variance ``1 / T``.
    """
    r = np.asarray(returns, dtype=float)
    t = r.size
    if n_trials < 1 or t < 3:
        raise ValueError("need n_trials >= 1 and at least 3 returns")
    std = r.std(ddof=1)
    sr = r.mean() / std
    z = (r - r.mean()) / r.std()
    skew, kurt = float(np.mean(z**3)), float(np.mean(z**4))
    normal = NormalDist()
    if n_trials == 1:
        benchmark = 0.0
    else:
        spread = float(np.var(trial_sharpes, ddof=1)) if trial_sharpes is not None else 1 / t
        benchmark = math.sqrt(spread) * (
            (1 - EULER_GAMMA) * normal.inv_cdf(1 - 1 / n_trials)
            + EULER_GAMMA * normal.inv_cdf(1 - 1 / (n_trials * math.e))
        )
    denominator = math.sqrt(max(1 - skew * sr + (kurt - 1) / 4 * sr * sr, 1e-12))
    return normal.cdf((sr - benchmark) * math.sqrt(t - 1) / denominator)
