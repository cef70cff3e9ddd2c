"""Data-quality findings on canonical bars, each returned as the offending rows."""

from __future__ import annotations

import polars as pl


def extreme_moves(bars: pl.DataFrame, max_abs_return: float) -> pl.DataFrame:
    """Close-to-close returns whose magnitude exceeds ``max_abs_return`` (a fraction)."""
    return (
        bars.sort("symbol", "timestamp")
        .with_columns((pl.col("close") / pl.col("close").shift(1) - 1).over("symbol").alias("ret"))
        .filter(pl.col("ret").abs() > max_abs_return)
        .select("symbol", "timestamp", "close", "ret")
    )


def short_histories(bars: pl.DataFrame, min_bars: int) -> pl.DataFrame:
    """Symbols with fewer than ``min_bars`` bars."""
    return (
        bars.group_by("symbol")
        .agg(pl.len().alias("bars"))
        .filter(pl.col("bars") < min_bars)
        .sort("symbol")
    )
