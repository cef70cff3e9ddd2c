"""Where raw bars come from: the synthetic market (default) or a directory of files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import dagster as dg
import polars as pl

from quant_engine.data import SyntheticMarketConfig, generate_market, load_bar_directory


@dataclass(frozen=True)
class LoadedBars:
    bars: pl.DataFrame
    source: str
    oracle_ic: float | None = None  # only a synthetic market knows it


class MarketDataResource(dg.ConfigurableResource):
    """Daily bars from the seeded synthetic market or from per-symbol CSV/Parquet files."""

    source: Literal["synthetic", "directory"] = "synthetic"
    directory: str = ""  # for source="directory"
    n_symbols: int = SyntheticMarketConfig.n_symbols
    n_days: int = SyntheticMarketConfig.n_days
    seed: int = SyntheticMarketConfig.seed
    signal_strength: float = SyntheticMarketConfig.signal_strength

    def load(self) -> LoadedBars:
        if self.source == "directory":
            if not self.directory:
                raise ValueError("market_data.directory must be set when source='directory'")
            return LoadedBars(load_bar_directory(self.directory), f"directory {self.directory}")
        config = SyntheticMarketConfig(
            n_symbols=self.n_symbols,
            n_days=self.n_days,
            seed=self.seed,
            signal_strength=self.signal_strength,
        )
        market = generate_market(config)
        return LoadedBars(market.bars, f"synthetic seed={self.seed}", market.oracle_ic)
