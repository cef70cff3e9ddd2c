"""Risk-parity weights: inverse volatility, and equal risk contribution from a covariance."""

from __future__ import annotations

import numpy as np


def inverse_volatility_weights(volatilities: np.ndarray) -> np.ndarray:
    """Weights proportional to ``1 / vol``, summing to one."""
    vol = np.asarray(volatilities, dtype=float)
    if vol.ndim != 1 or vol.size == 0 or not np.all(np.isfinite(vol)) or np.any(vol <= 0):
        raise ValueError(f"volatilities must be a non-empty vector of positive numbers, got {vol}")
    inverse = 1.0 / vol
    return inverse / inverse.sum()


def risk_contributions(weights: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Each asset's share of portfolio variance: ``w_i (C w)_i / (w' C w)``."""
    w = np.asarray(weights, dtype=float)
    marginal = np.asarray(covariance, dtype=float) @ w
    return w * marginal / float(w @ marginal)


def equal_risk_contribution_weights(
    covariance: np.ndarray, tol: float = 1e-12, max_iter: int = 10_000
) -> np.ndarray:
    """Long-only weights whose risk contributions are equal, summing to one.

    Cyclical coordinate descent on ``0.5 x'Cx - sum(log x) / n`` (Griveau-Billion, Richard and
    Roncalli, 2013): each step solves the one-dimensional first-order condition exactly.
    """
    cov = np.asarray(covariance, dtype=float)
    n = cov.shape[0] if cov.ndim == 2 else 0
    if n == 0 or cov.shape != (n, n) or not np.all(np.isfinite(cov)):
        raise ValueError(f"covariance must be a finite square matrix, got shape {cov.shape}")
    if not np.allclose(cov, cov.T):
        raise ValueError("covariance is not symmetric")
    diag = np.diag(cov)
    if np.any(diag <= 0):
        raise ValueError(f"covariance has non-positive variances on its diagonal: {diag}")
    budget = 1.0 / n
    x = inverse_volatility_weights(np.sqrt(diag))
    for _ in range(max_iter):
        previous = x.copy()
        for i in range(n):
            off = float(cov[i] @ x - diag[i] * x[i])
            x[i] = (-off + np.sqrt(off * off + 4.0 * diag[i] * budget)) / (2.0 * diag[i])
        if np.max(np.abs(x - previous)) <= tol * np.max(x):
            break
    else:
        raise RuntimeError(f"equal risk contribution did not converge in {max_iter} iterations")
    return x / x.sum()
