"""The evaluation every model family gets, with the same metric names and figures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl
from matplotlib.figure import Figure

from quant_engine.data.schema import KEYS
from quant_engine.evaluation.figures import ic_decay_bars, ic_over_time, quantile_bars
from quant_engine.evaluation.ic import ic_decay
from quant_engine.evaluation.quantiles import quantile_returns
from quant_engine.features.labels import LABEL
from quant_engine.models.walk_forward import WalkForwardResult

DECAY_HORIZONS = (1, 2, 5, 10, 20)


@dataclass(frozen=True)
class EvaluationReport:
    metrics: dict[str, float]  # ic_decay_<h>, quantile_spread
    figures: dict[str, Figure]  # file name -> figure
    decay: pl.DataFrame
    quantiles: pl.DataFrame


def evaluate_predictions(
    result: WalkForwardResult, features: pl.DataFrame, bars: pl.DataFrame
) -> EvaluationReport:
    """IC decay over holding horizons and quantile returns of out-of-sample predictions."""
    scores = result.predictions.select("symbol", "timestamp", "score")
    decay = ic_decay(scores, bars, DECAY_HORIZONS)
    labelled = scores.join(features.select(*KEYS, LABEL), on=KEYS)
    _, quantiles = quantile_returns(labelled)
    metrics = {f"ic_decay_{h}": ic for h, ic in zip(decay["horizon"], decay["ic"], strict=True)}
    metrics["quantile_spread"] = quantiles.filter(pl.col("quantile") == "spread")["mean_return"][0]
    figures = {
        "ic_over_time.png": ic_over_time(result.daily),
        "ic_decay.png": ic_decay_bars(decay),
        "quantile_returns.png": quantile_bars(quantiles),
    }
    return EvaluationReport(metrics, figures, decay, quantiles)


def lineage(features: pl.DataFrame, names: list[str]) -> dict[str, str | int]:
    """Where the training data came from: feature set, date range, content hash."""
    digest = hashlib.sha256(features.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()
    return {
        "data.features": ",".join(names) if len(names) <= 30 else f"{len(names)} features",
        "data.n_features": len(names),
        "data.first_date": str(features["timestamp"].min()),
        "data.last_date": str(features["timestamp"].max()),
        "data.rows": features.height,
        "data.hash": digest[:16],
    }
