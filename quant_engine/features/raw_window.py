"""The raw-window set: each day's OHLCV made comparable across days and symbols.

One row per bar, so a sequence model that reads the last ``RAW_WINDOW_DAYS`` rows of a symbol
(``Panel.windows``) sees its last 60 days of normalized OHLCV without the panel ever holding
60 copies of each day. Prices are relative to the day's close, the close to the previous close
(their running sum over a window rebuilds the price path relative to any day in it), and volume
to its own trailing mean. Every value at ``t`` reads bars at or before ``t``.
"""

from __future__ import annotations

import polars as pl

from quant_engine.data.schema import KEYS
from quant_engine.features.dtypes import FeatureDtype, polars_dtype

RAW_WINDOW_DAYS = 60  # the lookback sequence models use on this set
RAW_WINDOW_COLUMNS = ["raw_open", "raw_high", "raw_low", "raw_close", "raw_volume"]


def build_raw_window(
    bars: pl.DataFrame | pl.LazyFrame, dtype: FeatureDtype = "float64"
) -> pl.DataFrame:
    """Normalized OHLCV per bar: symbol, timestamp and :data:`RAW_WINDOW_COLUMNS` (computed in
    float64, stored as ``dtype``)."""
    log_volume = pl.col("volume").log1p()
    columns = [
        (pl.col("open") / pl.col("close")).log().alias("raw_open"),
        (pl.col("high") / pl.col("close")).log().alias("raw_high"),
        (pl.col("low") / pl.col("close")).log().alias("raw_low"),
        pl.col("close").log().diff().over("symbol").alias("raw_close"),
        (log_volume - log_volume.rolling_mean(RAW_WINDOW_DAYS, min_samples=5))
        .over("symbol")
        .alias("raw_volume"),
    ]
    return (
        bars.lazy()
        .sort(KEYS)
        .select(*KEYS, *columns)
        .with_columns(pl.selectors.float().fill_nan(None).cast(polars_dtype(dtype)))
        .collect()
    )
