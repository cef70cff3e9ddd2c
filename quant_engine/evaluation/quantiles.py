"""Quantile analysis: mean realized return per score bucket, and the top-minus-bottom spread."""

from __future__ import annotations

import polars as pl


def quantile_returns(
    frame: pl.DataFrame, score: str = "score", label: str = "label", n_quantiles: int = 5
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per-day bucket returns and their summary.

    Each day, names are split into ``n_quantiles`` equal buckets by score (1 = lowest). Returns
    ``(daily, summary)``: ``daily`` has timestamp, quantile, mean_return; ``summary`` has one row
    per quantile with the average over days, plus a ``spread`` row (top minus bottom).
    """
    if n_quantiles < 2:
        raise ValueError("need at least 2 quantiles")
    bucket = ((pl.col(score).rank("ordinal") - 1) * n_quantiles // pl.len() + 1).over("timestamp")
    daily = (
        frame.filter(pl.col(score).is_not_null() & pl.col(label).is_not_null())
        .with_columns(bucket.cast(pl.Int32).alias("quantile"))
        .group_by("timestamp", "quantile")
        .agg(pl.col(label).mean().alias("mean_return"))
        .sort("timestamp", "quantile")
    )
    wide = daily.pivot(on="quantile", index="timestamp", values="mean_return")
    spread = (wide[str(n_quantiles)] - wide["1"]).drop_nulls()
    summary = pl.concat(
        [
            daily.group_by("quantile")
            .agg(pl.col("mean_return").mean())
            .sort("quantile")
            .with_columns(pl.col("quantile").cast(pl.String)),
            pl.DataFrame({"quantile": ["spread"], "mean_return": [spread.mean()]}),
        ]
    )
    return daily, summary
