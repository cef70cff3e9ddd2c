"""Which features a fitted model relies on: LightGBM's split gain, else permutation importance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from quant_engine.evaluation.ic import daily_ic
from quant_engine.features.labels import LABEL
from quant_engine.models.base import AlphaModel
from quant_engine.models.panel import Panel


def feature_importance(
    model: AlphaModel,
    frame: pl.DataFrame,
    names: Sequence[str],
    rows: np.ndarray,
    seed: int = 0,
) -> pl.DataFrame:
    """(feature, importance, kind), most important first.

    A model with a LightGBM ``booster`` reports each feature's total split gain as a share of
    the whole (``kind="gain"``). Any other model is scored on ``rows`` of ``frame`` (sorted by
    symbol and timestamp, with the label; out-of-sample rows) once as is and once per feature
    with that feature's column shuffled across the panel: the importance is the drop in mean
    daily rank IC (``kind="permutation"``; negative: the feature only adds noise there).
    """
    booster = getattr(model, "booster", None)
    if booster is not None:
        gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)
        total = gain.sum() or 1.0
        table = pl.DataFrame(
            {"feature": booster.feature_name(), "importance": gain / total, "kind": "gain"}
        )
        return table.sort("importance", descending=True)
    panel = Panel.from_frame(frame, names)
    features = panel.features.copy()  # shuffled in place, one column at a time
    shuffled = Panel(features, panel.position, panel.names)
    labelled = frame.select("timestamp", LABEL)[rows]

    def rank_ic() -> float:
        scored = labelled.with_columns(pl.Series("score", model.predict(shuffled, rows)))
        return float(daily_ic(scored)["rank_ic"].mean() or 0.0)

    base = rank_ic()
    rng = np.random.default_rng(seed)
    drops = []
    for j in range(len(names)):
        original = features[:, j].copy()
        features[:, j] = rng.permutation(original)
        drops.append(base - rank_ic())
        features[:, j] = original
    table = pl.DataFrame({"feature": list(names), "importance": drops, "kind": "permutation"})
    return table.sort("importance", descending=True)
