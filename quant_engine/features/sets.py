"""Named factor sets a user picks from config, built and joined on (symbol, timestamp)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from quant_engine.data.schema import KEYS
from quant_engine.features.alpha158 import Alpha158Config, build_alpha158
from quant_engine.features.labels import LABEL, LABEL_HORIZON
from quant_engine.features.library import FeatureConfig, build_features
from quant_engine.features.normalize import Method, cross_sectional
from quant_engine.features.raw_window import RAW_WINDOW_DAYS, build_raw_window

FACTOR_SETS: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
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
    """Which factor sets to build and how to normalize them across symbols each day."""

    sets: tuple[str, ...] = ("basic",)
    normalize: Method = "none"

    def __post_init__(self) -> None:
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


def build_factor_sets(bars: pl.DataFrame, config: FactorSetConfig | None = None) -> pl.DataFrame:
    """Build the chosen sets for canonical ``bars``: symbol, timestamp, then every factor."""
    cfg = config or FactorSetConfig()
    frames = [FACTOR_SETS[name](bars) for name in cfg.sets]
    frame = frames[0]
    for other in frames[1:]:
        clash = set(other.columns).intersection(frame.columns).difference(KEYS)
        if clash:
            raise ValueError(f"factor sets define the same column(s) {sorted(clash)}")
        frame = frame.join(other, on=KEYS, how="left", maintain_order="left")
    return cross_sectional(frame, feature_names(frame), cfg.normalize)


def feature_names(frame: pl.DataFrame) -> list[str]:
    """The feature columns of a feature frame: everything but keys and label columns."""
    return [c for c in frame.columns if c not in (*KEYS, LABEL, LABEL_HORIZON)]
