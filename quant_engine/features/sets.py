"""Named factor sets a user picks from config, built and joined on (symbol, timestamp)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import polars.selectors as cs

from quant_engine.data.schema import KEYS
from quant_engine.features.alpha158 import Alpha158Config, build_alpha158
from quant_engine.features.dtypes import FeatureDtype, polars_dtype
from quant_engine.features.labels import LABEL, LABEL_HORIZON
from quant_engine.features.library import FeatureConfig, build_features
from quant_engine.features.normalize import Method, cross_sectional
from quant_engine.features.raw_window import RAW_WINDOW_DAYS, build_raw_window

# Each is called as ``build(bars, dtype=...)`` when it takes a ``dtype`` (it returns its factors
# in that float type), else as ``build(bars)`` (its float columns are cast to it).
FACTOR_SETS: dict[str, Callable[..., pl.DataFrame]] = {
    "basic": build_features,  # returns, volatility, volume, range and liquidity, ranks
    "alpha158": build_alpha158,  # Qlib-style k-bar, price, rolling price/volume factors
    "raw_window": build_raw_window,  # normalized daily OHLCV, for sequence models' windows
}

# Bars up to and including t that each set's factors at t read (its longest window of one-bar
# changes spans window + 1 bars): factors built from that many bars give the whole history's.
LOOKBACK_BARS: dict[str, int] = {
    "basic": FeatureConfig().lookback,
    "alpha158": max(Alpha158Config().windows) + 1,
    "raw_window": RAW_WINDOW_DAYS,  # the trailing mean of volume; its changes need 2 bars
}


@dataclass(frozen=True)
class FactorSetConfig:
    """Which factor sets to build, how to normalize them across symbols each day, and the
    float type their values are stored in (computed in float64 either way; normalization
    reads the stored values)."""

    sets: tuple[str, ...] = ("basic",)
    normalize: Method = "none"
    dtype: FeatureDtype = "float64"

    def __post_init__(self) -> None:
        polars_dtype(self.dtype)
        unknown = [name for name in self.sets if name not in FACTOR_SETS]
        if not self.sets or unknown:
            raise ValueError(
                f"unknown factor set(s) {unknown or '(none given)'}; known: {sorted(FACTOR_SETS)}"
            )

    @property
    def lookback(self) -> int | None:
        """Bars of history the chosen sets read at each day (see :data:`LOOKBACK_BARS`); None
        when a set does not declare its own (every day then depends on the whole history)."""
        found = [LOOKBACK_BARS.get(name) for name in self.sets]
        return None if None in found else max(found)


def _build_set(name: str, bars: pl.DataFrame, dtype: FeatureDtype) -> pl.DataFrame:
    """One set's factors in ``dtype`` (see :data:`FACTOR_SETS`)."""
    build = FACTOR_SETS[name]
    if "dtype" in inspect.signature(build).parameters:
        return build(bars, dtype=dtype)
    return build(bars).with_columns(cs.float().cast(polars_dtype(dtype)))


def build_factor_sets(bars: pl.DataFrame, config: FactorSetConfig | None = None) -> pl.DataFrame:
    """Build the chosen sets for canonical ``bars``: symbol, timestamp, then every factor.

    Sets with the same rows in the same order (the built-in ones: every bar, sorted by symbol
    and timestamp) are put side by side without copying their columns; others are joined.
    """
    cfg = config or FactorSetConfig()
    frame = None
    for name in cfg.sets:
        other = _build_set(name, bars, cfg.dtype)
        if frame is None:
            frame = other
            continue
        clash = set(other.columns).intersection(frame.columns).difference(KEYS)
        if clash:
            raise ValueError(f"factor sets define the same column(s) {sorted(clash)}")
        if frame.select(KEYS).equals(other.select(KEYS)):
            frame = frame.hstack(other.drop(KEYS))
        else:
            frame = frame.join(other, on=KEYS, how="left", maintain_order="left")
        del other
    assert frame is not None  # FactorSetConfig asks for at least one set
    return cross_sectional(frame, feature_names(frame), cfg.normalize)


def feature_names(frame: pl.DataFrame) -> list[str]:
    """The feature columns of a feature frame: everything but keys and label columns."""
    return [c for c in frame.columns if c not in (*KEYS, LABEL, LABEL_HORIZON)]
