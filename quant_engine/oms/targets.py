"""The day's target portfolio: the latest signals through portfolio construction.

This is the one place where the live rebalance calls the portfolio-construction rules, so the
live book is built exactly as the backtests build theirs.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from quant_engine.portfolio import ConstructionConfig, target_weights, too_few_scores


def latest_target_portfolio(
    signals: pl.DataFrame, bars: pl.DataFrame, config: ConstructionConfig
) -> pl.DataFrame:
    """Weights for the last day of ``signals``, priced at that day's close.

    Returns one row per symbol with a score and a close that day: ``trading_day`` (the day the
    signal was known, after its close), ``symbol``, ``score``, ``weight`` and ``price``. Bars
    after that day are never read. Symbols without that day's close are left out. Fewer finite
    scores than ``config.valid_scores_needed`` make no targets: a ``ValueError`` says so (an
    empty book would read as "sell everything").
    """
    for frame, name, columns in (
        (signals, "signals", {"timestamp", "symbol", "score"}),
        (bars, "bars", {"timestamp", "symbol", "close"}),
    ):
        missing = columns - set(frame.columns)
        if missing:
            raise ValueError(f"{name} lack column(s) {sorted(missing)}")
    if signals.is_empty():
        raise ValueError("signals are empty: there is no day to build targets for")
    day = signals["timestamp"].max()
    closes = bars.filter(pl.col("timestamp") == day).select(
        "symbol", pl.col("close").alias("price")
    )
    latest = (
        signals.filter(pl.col("timestamp") == day)
        .select("symbol", "score")
        .join(closes, on="symbol", how="inner")
        .filter(pl.col("score").is_finite() & (pl.col("price") > 0))
        .sort("symbol")
    )
    if latest.is_empty():
        raise ValueError(f"no symbol has both a score and a close on {day}")
    scores = latest["score"].to_numpy().astype(float)
    everyone = np.ones(len(scores), dtype=bool)
    if too_few_scores(scores, everyone, config):
        raise ValueError(
            f"only {len(scores)} symbol(s) have a finite score and a close on {day}, fewer than"
            f" the {config.valid_scores_needed} needed (portfolio min_valid_scores): no targets"
        )
    weights = target_weights(scores, everyone, config)
    trading_day = day.date() if hasattr(day, "date") else day
    return latest.with_columns(
        pl.lit(trading_day).alias("trading_day"), pl.Series("weight", weights)
    ).select("trading_day", "symbol", "score", "weight", "price")
