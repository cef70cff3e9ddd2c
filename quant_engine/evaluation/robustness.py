"""Adversarial-noise robustness: how a model's IC holds up when its inputs are perturbed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from quant_engine.evaluation.ic import daily_ic, ic_summary
from quant_engine.features.labels import LABEL
from quant_engine.models.base import AlphaModel
from quant_engine.models.panel import Panel


def _ic(frame: pl.DataFrame, scores: np.ndarray) -> dict[str, float]:
    scored = frame.select("timestamp", LABEL).with_columns(pl.Series("score", scores))
    return ic_summary(daily_ic(scored))


def adversarial_noise_ic(
    model: AlphaModel,
    frame: pl.DataFrame,
    features: Sequence[str],
    sigmas: Sequence[float] = (0.05, 0.1, 0.25),
    seed: int = 0,
) -> pl.DataFrame:
    """IC of ``model`` on ``frame`` under Gaussian and worst-case-sign input perturbations.

    Each feature is perturbed by ``sigma`` times its standard deviation. ``gaussian`` adds
    random noise; ``worst_case`` moves every feature by the full amount in the direction that
    pushes each score against its realized label (the direction found per feature by a
    finite difference of the same size), a label-aware upper bound on the damage.
    """
    frame = frame.sort("symbol", "timestamp")
    panel = Panel.from_frame(frame, features)
    rows = np.flatnonzero(frame[LABEL].is_not_null().to_numpy())
    scored = frame[rows]
    x = panel.features.astype(float)
    scale = np.nanstd(x[rows], axis=0)
    # +1 where a higher score would have been right (label above the day's mean), else -1;
    # rows without a label are not pushed.
    against = np.zeros(x.shape[0])
    against[rows] = np.sign(
        scored.select(pl.col(LABEL) - pl.col(LABEL).mean().over("timestamp"))[LABEL].to_numpy()
    )

    def ic_of(values: np.ndarray) -> dict[str, float]:
        return _ic(scored, model.predict(panel.with_features(values), rows))

    rng = np.random.default_rng(seed)
    base = ic_of(x)
    out = [{"perturbation": "none", "sigma": 0.0, **_pick(base)}]
    for sigma in sigmas:
        step = sigma * scale
        noisy = ic_of(x + rng.standard_normal(x.shape) * step)
        worst = x.copy()
        for f in range(x.shape[1]):
            up, down = x.copy(), x.copy()
            up[:, f] += step[f]
            down[:, f] -= step[f]
            direction = np.zeros(x.shape[0])
            direction[rows] = np.sign(
                model.predict(panel.with_features(up), rows)
                - model.predict(panel.with_features(down), rows)
            )
            worst[:, f] -= step[f] * direction * against
        attacked = ic_of(worst)
        out += [
            {"perturbation": "gaussian", "sigma": sigma, **_pick(noisy)},
            {"perturbation": "worst_case", "sigma": sigma, **_pick(attacked)},
        ]
    return pl.DataFrame(out)


def _pick(summary: dict[str, float]) -> dict[str, float]:
    return {"ic": summary["ic"], "rank_ic": summary["rank_ic"]}
