"""The evaluation every model family gets, with the same metric names and figures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl
from matplotlib.figure import Figure

from quant_engine.backtest import BookConfig, run_backtest
from quant_engine.data.schema import KEYS
from quant_engine.evaluation.figures import (
    equity_and_drawdown,
    ic_decay_bars,
    ic_over_time,
    quantile_bars,
)
from quant_engine.evaluation.ic import ic_decay
from quant_engine.evaluation.quantiles import quantile_returns
from quant_engine.evaluation.sharpe import bootstrap_sharpe_ci
from quant_engine.features.labels import LABEL
from quant_engine.models.walk_forward import WalkForwardResult
from quant_engine.portfolio import ConstructionConfig

DECAY_HORIZONS = (1, 2, 5, 10, 20)
STRATEGIES = ("long_short", "long_only")
STRATEGY_METRICS = ("sharpe", "annual_return", "annual_volatility", "max_drawdown", "sortino")


@dataclass(frozen=True)
class EvaluationReport:
    metrics: dict[str, float]  # ic_decay_<h>, quantile_spread, <strategy>.<metric>
    figures: dict[str, Figure]  # file name -> figure
    decay: pl.DataFrame
    quantiles: pl.DataFrame
    daily_returns: dict[str, pl.DataFrame]  # strategy -> timestamp, net_return, equity, drawdown


def evaluate_predictions(
    result: WalkForwardResult, features: pl.DataFrame, bars: pl.DataFrame
) -> EvaluationReport:
    """IC decay, quantile returns and net-of-cost strategy results of out-of-sample predictions.

    Each strategy (top-k long/short and long-only, default costs) trades the predictions as the
    backtest asset trades signals; its Sharpe ratio comes with a block-bootstrap 95% interval.
    """
    scores = result.predictions.select("symbol", "timestamp", "score")
    decay = ic_decay(scores, bars, DECAY_HORIZONS)
    labelled = scores.join(features.select(*KEYS, LABEL), on=KEYS)
    _, quantiles = quantile_returns(labelled)
    metrics = {f"ic_decay_{h}": ic for h, ic in zip(decay["horizon"], decay["ic"], strict=True)}
    metrics["quantile_spread"] = quantiles.filter(pl.col("quantile") == "spread")["mean_return"][0]
    daily = {}
    for strategy in STRATEGIES:
        book = BookConfig(portfolio=ConstructionConfig(mode=strategy))
        backtest = run_backtest(scores, bars, book)
        daily[strategy] = backtest.daily.select("timestamp", "net_return", "equity", "drawdown")
        metrics.update({f"{strategy}.{k}": backtest.metrics[k] for k in STRATEGY_METRICS})
        low, high = bootstrap_sharpe_ci(backtest.daily["net_return"].to_numpy())
        metrics[f"{strategy}.sharpe_ci_low"], metrics[f"{strategy}.sharpe_ci_high"] = low, high
    figures = {
        "ic_over_time.png": ic_over_time(result.daily),
        "ic_decay.png": ic_decay_bars(decay),
        "quantile_returns.png": quantile_bars(quantiles),
        "equity.png": equity_and_drawdown(daily),
    }
    return EvaluationReport(metrics, figures, decay, quantiles, daily)


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
