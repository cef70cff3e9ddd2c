"""Information coefficient: the cross-sectional correlation of scores with realized returns."""

from __future__ import annotations

import math

import polars as pl


def daily_ic(
    frame: pl.DataFrame, score: str = "score", label: str = "label", min_names: int = 5
) -> pl.DataFrame:
    """Per-timestamp Pearson IC and Spearman rank IC over rows where both values are known."""
    known = frame.filter(pl.col(score).is_not_null() & pl.col(label).is_not_null())
    return (
        known.group_by("timestamp")
        .agg(
            pl.corr(score, label).alias("ic"),
            pl.corr(score, label, method="spearman").alias("rank_ic"),
            pl.len().alias("n"),
        )
        .filter(pl.col("n") >= min_names)
        .sort("timestamp")
        .with_columns(pl.col("ic", "rank_ic").fill_nan(None))
    )


def ic_summary(daily: pl.DataFrame) -> dict[str, float]:
    """Mean IC and rank IC, their information ratios (mean / std) and the IC t-statistic."""
    n = daily["ic"].drop_nulls().len()
    out: dict[str, float] = {"n_days": float(n)}
    for name in ("ic", "rank_ic"):
        values = daily[name].drop_nulls()
        mean = float(values.mean()) if n else math.nan
        std = float(values.std()) if n > 1 else math.nan
        out[name] = mean
        out[f"{name}_ir"] = mean / std if std and std > 0 else math.nan
    out["icir"] = out.pop("ic_ir")
    out["rank_icir"] = out.pop("rank_ic_ir")
    out["ic_tstat"] = out["icir"] * math.sqrt(n) if n > 1 else math.nan
    return out


def ic_decay(
    scores: pl.DataFrame, bars: pl.DataFrame, horizons: tuple[int, ...] = (1, 2, 5, 10, 20)
) -> pl.DataFrame:
    """IC and rank IC of ``scores`` (symbol, timestamp, score) against returns over each horizon.

    The return for horizon ``h`` is the one a signal of day t earns from the open of t+1 to
    the open of t+1+h, as in the training label.
    """
    # Here, not at the top: the run path imports quant_engine.evaluation without the
    # feature library that quant_engine.features loads.
    from quant_engine.features.labels import LabelConfig, add_forward_return_label

    rows = []
    for h in horizons:
        labelled = add_forward_return_label(scores, bars, LabelConfig(horizon=h))
        summary = ic_summary(daily_ic(labelled))
        rows.append({"horizon": h, "ic": summary["ic"], "rank_ic": summary["rank_ic"]})
    return pl.DataFrame(rows)
