"""The feature library: per-symbol time-series features and cross-sectional ranks.

Every feature at timestamp ``t`` reads only bars at or before ``t`` (rolling windows look back;
cross-sectional ranks compare symbols at the same ``t``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from quant_engine.data.schema import KEYS
from quant_engine.features.dtypes import FeatureDtype, polars_dtype


@dataclass(frozen=True)
class FeatureConfig:
    """Windows of the feature library, in bars."""

    return_windows: tuple[int, ...] = (1, 5, 20, 60)
    volatility_windows: tuple[int, ...] = (20, 60)
    volume_window: int = 20
    range_window: int = 20
    ranked: tuple[str, ...] = ("ret_1", "ret_5", "ret_20", "ret_60", "volume_z", "vol_20")

    def __post_init__(self) -> None:
        windows = (*self.return_windows, *self.volatility_windows)
        if min(windows, default=1) < 1 or self.volume_window < 2 or self.range_window < 1:
            raise ValueError("feature windows must be positive (volume_window at least 2)")

    @property
    def lookback(self) -> int:
        """Bars up to and including ``t`` that the features at ``t`` read: a window of ``w``
        one-bar changes spans ``w + 1`` bars."""
        changes = (*self.return_windows, *self.volatility_windows, self.range_window, 1)
        return max(max(changes) + 1, self.volume_window)


def _time_series_features(cfg: FeatureConfig) -> list[pl.Expr]:
    log_ret = pl.col("close").log().diff()
    log_range = (pl.col("high") / pl.col("low")).log()
    log_volume = pl.col("volume").log1p()
    dollar_volume = pl.col("close") * pl.col("volume")
    vw = cfg.volume_window
    exprs = [(pl.col("close").log().diff(w)).alias(f"ret_{w}") for w in cfg.return_windows]
    exprs += [log_ret.rolling_std(w).alias(f"vol_{w}") for w in cfg.volatility_windows]
    exprs += [
        ((log_volume - log_volume.rolling_mean(vw)) / log_volume.rolling_std(vw)).alias("volume_z"),
        (log_range.pow(2).rolling_mean(cfg.range_window) / (4 * math.log(2)))
        .sqrt()
        .alias(f"parkinson_{cfg.range_window}"),
        (log_ret.abs() / dollar_volume * 1e6)
        .rolling_mean(cfg.range_window)
        .alias(f"amihud_{cfg.range_window}"),
        log_range.alias("range"),
        ((pl.col("close") - pl.col("low")) / (pl.col("high") - pl.col("low")))
        .fill_nan(0.5)
        .alias("close_location"),
        (pl.col("open") / pl.col("close").shift(1)).log().alias("gap"),
    ]
    return [e.over("symbol") for e in exprs]


def feature_columns(config: FeatureConfig | None = None) -> list[str]:
    """Names of the feature columns ``build_features`` produces, in order."""
    cfg = config or FeatureConfig()
    names = [expr.meta.output_name() for expr in _time_series_features(cfg)]
    return names + [f"{name}_rank" for name in cfg.ranked]


def build_features(
    bars: pl.DataFrame | pl.LazyFrame,
    config: FeatureConfig | None = None,
    dtype: FeatureDtype = "float64",
) -> pl.DataFrame:
    """Compute the feature library for canonical bars; returns symbol, timestamp and features
    (computed in float64, stored as ``dtype``)."""
    cfg = config or FeatureConfig()
    stored = polars_dtype(dtype)
    time_series = (
        bars.lazy()
        .sort(KEYS)
        .with_columns(_time_series_features(cfg))
        .with_columns(pl.selectors.float().fill_nan(None))
    )
    ranks = [
        (pl.col(name).rank("average") / pl.col(name).count())
        .over("timestamp")
        .alias(f"{name}_rank")
        for name in cfg.ranked
    ]
    features = [pl.col(name).cast(stored) for name in feature_columns(cfg)]
    return time_series.with_columns(ranks).select(*KEYS, *features).collect()
