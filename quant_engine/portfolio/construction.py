"""Scores to target weights: select the top names, weight them, cap them.

Works on one cycle (a vector of scores) or many at once (a dates x symbols matrix): the same
code serves the vectorized backtest, the event-driven simulator and the live rebalance.
"""

from __future__ import annotations

import numpy as np

from quant_engine.portfolio.config import ConstructionConfig
from quant_engine.portfolio.kernels import sleeve_weights_kernel


def target_weights(
    scores: np.ndarray, eligible: np.ndarray, config: ConstructionConfig
) -> np.ndarray:
    """Target weights per row of ``scores`` among ``eligible`` names.

    Cross-sectional long-only books hold the top ``k`` names at ``1/k`` (fully invested);
    long/short books are dollar-neutral with gross 1. Ties break by column order. Per-symbol
    books give each name a sleeve weight of +1 (score above ``threshold``), -1 (long/short,
    score below ``-threshold``) or 0. Weights are then capped at ``max_weight``. A cycle with
    fewer eligible finite scores than ``config.valid_scores_needed`` gets no targets (all 0):
    see :func:`too_few_scores`.
    """
    scores = np.asarray(scores, dtype=float)
    eligible = np.asarray(eligible, dtype=bool)
    if config.valid_scores_needed > 1:
        eligible = eligible & ~too_few_scores(scores, eligible, config)[..., None]
    if config.allocation == "per_symbol":
        weights = _sleeve_weights(scores, eligible, config)  # finite scores only
    else:
        eligible = eligible & np.isfinite(scores)
        weights = _ranked_weights(np.atleast_2d(scores), np.atleast_2d(eligible), config)
        weights = weights.reshape(scores.shape)
    if config.max_weight < 1.0:
        np.clip(weights, -config.max_weight, config.max_weight, out=weights)
    return weights


def too_few_scores(
    scores: np.ndarray, eligible: np.ndarray, config: ConstructionConfig
) -> np.ndarray:
    """Per cycle (row): whether it has some, but fewer than the needed, eligible finite scores.

    Such a cycle makes no targets; a caller reports it (a cycle with none is simply idle).
    """
    if config.valid_scores_needed <= 1:
        return np.zeros(np.shape(scores)[:-1], dtype=bool)
    valid = (np.asarray(eligible, dtype=bool) & np.isfinite(scores)).sum(axis=-1)
    return (valid > 0) & (valid < config.valid_scores_needed)


def _sleeve_weights(
    scores: np.ndarray, eligible: np.ndarray, cfg: ConstructionConfig
) -> np.ndarray:
    cut = 0.0 if cfg.threshold is None else cfg.threshold
    if eligible.shape != scores.shape:
        eligible = np.broadcast_to(eligible, scores.shape)
    flat = sleeve_weights_kernel(
        np.ascontiguousarray(scores).reshape(-1),
        np.ascontiguousarray(eligible).reshape(-1),
        float(cut),
        cfg.mode == "long_short",
    )
    return flat.reshape(scores.shape)


def _ranked_weights(
    scores: np.ndarray, eligible: np.ndarray, cfg: ConstructionConfig
) -> np.ndarray:
    if cfg.threshold is not None:
        selectable = np.abs(scores) > cfg.threshold
        eligible = eligible & (selectable if cfg.mode == "long_short" else scores > cfg.threshold)
    weights = np.zeros_like(scores)
    masked = np.where(eligible, scores, -np.inf)
    n_eligible = eligible.sum(axis=1)
    order = np.argsort(-masked, axis=1, kind="stable")
    for row in np.flatnonzero(n_eligible):
        n = int(n_eligible[row])
        if cfg.mode == "long_only":
            k = min(cfg.top_k, n)
            weights[row, order[row, :k]] = 1.0 / k
        else:
            k = min(cfg.top_k, n // 2)
            if k:
                ranked = order[row, :n]
                weights[row, ranked[:k]] = 0.5 / k
                weights[row, ranked[n - k :]] = -0.5 / k
    return weights
