"""Leakage checks: features that read the future, and models that learn from it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import polars as pl

from quant_engine.features.labels import LABEL
from quant_engine.models.base import AlphaModel
from quant_engine.models.panel import Panel
from quant_engine.models.walk_forward import WalkForwardConfig, run_walk_forward


def features_reading_the_future(
    build: Callable[[pl.DataFrame], pl.DataFrame],
    bars: pl.DataFrame,
    cutoffs: Sequence[float] = (0.3, 0.6, 0.9),
    seed: int = 0,
) -> list[str]:
    """Feature columns whose values up to a cutoff change when only later bars change.

    ``build`` maps canonical bars to (symbol, timestamp, features...); ``cutoffs`` are
    fractions of the timeline. Later bars are rescaled by random factors; a feature that is
    causal cannot move at or before the cutoff.
    """
    dates = bars["timestamp"].unique().sort()
    original = build(bars)
    names = [c for c in original.columns if c not in ("symbol", "timestamp")]
    rng = np.random.default_rng(seed)
    offenders: set[str] = set()
    for fraction in cutoffs:
        cutoff = dates[int(fraction * (len(dates) - 1))]
        shock = pl.Series(rng.uniform(0.5, 2.0, bars.height))
        later = pl.col("timestamp") > cutoff
        changed = build(
            bars.with_columns(
                pl.when(later).then(pl.col(c) * shock).otherwise(pl.col(c))
                for c in ("open", "high", "low", "close", "volume")
            )
        )
        before = pl.col("timestamp") <= cutoff
        a, b = original.filter(before), changed.filter(before)
        for name in names:
            if not a[name].equals(b[name], check_names=True, null_equal=True):
                offenders.add(name)
    return sorted(offenders)


def shifted_label_probe(
    frame: pl.DataFrame,
    features: Sequence[str],
    model_factory: Callable[[], AlphaModel],
    config: WalkForwardConfig | None = None,
    z: float = 3.0,
    horizon: int = 1,
    true_daily: pl.DataFrame | None = None,
    panel: Panel | None = None,
) -> dict[str, float | bool]:
    """Train on the true label and on the label shifted one day into the past.

    The shifted label of day ``t`` is the true label of ``t+1``: a return further in the
    future, which honest features can only predict worse. Each model is scored against the
    target it was trained on; ``leak`` is set when the shifted model beats the true one by
    more than ``z`` standard errors of the difference of daily ICs. ``true_daily`` (timestamp,
    ic) of a walk-forward already run on the true label saves training it again; ``panel``
    (the features of ``frame``, sorted by symbol and timestamp) saves assembling them again.
    """
    if panel is None:
        frame, panel = Panel.sorted_from_frame(frame, features)
    shifted = frame.with_columns(pl.col(LABEL).shift(-1).over("symbol"))
    if true_daily is None:
        true_daily = run_walk_forward(
            frame, features, model_factory, config, horizon, panel=panel
        ).daily
    # The shifted label reaches one day further: purge one more day before each test block.
    cfg = config or WalkForwardConfig()
    cfg = replace(cfg, embargo_days=max(cfg.embargo_days, horizon + 1))
    probe = run_walk_forward(shifted, features, model_factory, cfg, horizon + 1, panel=panel).daily
    paired = (
        true_daily.select("timestamp", "ic")
        .join(probe.select("timestamp", "ic"), on="timestamp", suffix="_shifted")
        .drop_nulls()
    )
    difference = (paired["ic_shifted"] - paired["ic"]).to_numpy()
    se = float(difference.std(ddof=1) / np.sqrt(difference.size))
    return {
        "ic_true": float(paired["ic"].mean()),
        "ic_shifted": float(paired["ic_shifted"].mean()),
        "se": se,
        "n_days": float(difference.size),
        "leak": bool(difference.mean() > z * se),
    }
