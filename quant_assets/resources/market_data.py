"""Where raw bars come from, chosen by config: synthetic, a directory, Databento, ccxt, Alpaca.

API keys are string fields meant for ``dg.EnvVar("...")``; left empty, they are read from the
vendor's usual environment variable when the source is built. They are never logged: only
:meth:`MarketDataResource.describe` is, and it names no secret.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.calendars import BUSINESS_DAYS, CRYPTO
from quant_engine.data.corporate_actions import load_actions
from quant_engine.data.sources.base import BarSource
from quant_engine.data.sources.directory import DirectorySource, DirectorySourceConfig
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.paths import QuantHome

SourceName = Literal["synthetic", "directory", "databento", "ccxt", "alpaca"]
DEFAULT_CALENDARS = {
    "synthetic": BUSINESS_DAYS,  # the generator's days are weekdays, with no holidays
    "directory": "XNYS",
    "databento": "XNYS",
    "ccxt": CRYPTO,
    "alpaca": "XNYS",
}
WIDE_RANGE = (date(1970, 1, 1), date(2100, 1, 1))


def _secret(value: str, variable: str) -> str:
    return value or os.environ.get(variable, "")


class MarketDataResource(dg.ConfigurableResource):
    """The bar source for raw_bars, its trading calendar and its corporate actions."""

    source: SourceName = "synthetic"
    symbols: list[str] = Field(default_factory=list)  # empty: the source's whole universe
    calendar: str = ""  # exchange_calendars code, "24/7" or "24/5"; empty: the source's default
    corporate_actions: str = ""  # CSV/Parquet of (symbol, ex_date, split_ratio, dividend)
    # A symbol the source does not return for a run's days: "fail" raw_bars' missing_symbols
    # check (nothing is written), "keep" its stored bars, or "drop" them from those days.
    missing_symbols: Literal["fail", "keep", "drop"] = "fail"
    # source="directory": per-symbol CSV/Parquet files
    directory: str = ""
    timestamp_format: str = ""  # e.g. "%m/%d/%Y"; empty: ISO 8601, YYYYMMDD or epoch numbers
    columns: dict[str, str] = Field(default_factory=dict)  # file column -> canonical name
    adj_close: Literal["drop", "adjust"] = "drop"  # an Adj Close column: dropped (logged) or
    # used to adjust open/high/low/close (volume divided by the same factor)
    # source="synthetic"
    n_symbols: int = SyntheticMarketConfig.n_symbols
    n_days: int = SyntheticMarketConfig.n_days
    seed: int = SyntheticMarketConfig.seed
    start: str = SyntheticMarketConfig.start  # first session (YYYY-MM-DD)
    signal_strength: float = SyntheticMarketConfig.signal_strength
    # source="databento"
    databento_dataset: str = "XNAS.ITCH"
    databento_api_key: str = ""  # dg.EnvVar("DATABENTO_API_KEY")
    # source="ccxt"
    ccxt_exchange: str = "binance"
    ccxt_api_key: str = ""  # public candles need no key
    ccxt_secret: str = ""
    # source="alpaca"
    alpaca_api_key: str = ""  # dg.EnvVar("APCA_API_KEY_ID")
    alpaca_secret_key: str = ""  # dg.EnvVar("APCA_API_SECRET_KEY")
    alpaca_feed: str = ""  # "iex", "sip"; empty: the account's default

    def synthetic_config(self) -> SyntheticMarketConfig:
        return SyntheticMarketConfig(
            n_symbols=self.n_symbols,
            n_days=self.n_days,
            seed=self.seed,
            start=self.start,
            signal_strength=self.signal_strength,
        )

    def _synthetic(self) -> SyntheticSource:
        """The synthetic source, its generated sessions kept under ``QUANT_HOME/cache``."""
        return SyntheticSource(self.synthetic_config(), QuantHome.resolve().cache / "synthetic")

    def calendar_name(self) -> str:
        return self.calendar or DEFAULT_CALENDARS[self.source]

    def universe(self) -> list[str] | None:
        """The symbols to fetch (None: all the source has; vendors need a list)."""
        if not self.symbols and self.source in ("databento", "ccxt", "alpaca"):
            raise ValueError(
                f"market_data.symbols must list the symbols to fetch from {self.source}"
            )
        return list(self.symbols) or None

    def describe(self) -> str:
        """A one-line description for logs and metadata (no secrets)."""
        return {
            "synthetic": f"synthetic seed={self.seed} symbols={self.n_symbols}",
            "directory": f"directory {self.directory}",
            "databento": f"databento {self.databento_dataset}",
            "ccxt": f"ccxt {self.ccxt_exchange}",
            "alpaca": f"alpaca feed={self.alpaca_feed or 'default'}",
        }[self.source]

    def bar_source(self) -> BarSource:
        """The configured source (vendor modules are imported only when chosen)."""
        if self.source == "synthetic":
            return self._synthetic()
        if self.source == "directory":
            if not self.directory:
                raise ValueError("market_data.directory must be set when source='directory'")
            config = DirectorySourceConfig(
                Path(self.directory),
                calendar=self.calendar_name(),
                timestamp_format=self.timestamp_format or None,
                columns=dict(self.columns),
                adj_close=self.adj_close,
            )
            return DirectorySource(config)
        if self.source == "databento":
            from quant_engine.data.sources.databento import DatabentoConfig, DatabentoSource

            key = _secret(self.databento_api_key, "DATABENTO_API_KEY")
            return DatabentoSource(DatabentoConfig(dataset=self.databento_dataset), api_key=key)
        if self.source == "ccxt":
            from quant_engine.data.sources.ccxt import CcxtConfig, CcxtSource

            return CcxtSource(
                CcxtConfig(exchange_id=self.ccxt_exchange),
                api_key=self.ccxt_api_key or None,
                secret=self.ccxt_secret or None,
            )
        from quant_engine.data.sources.alpaca import AlpacaConfig, AlpacaSource

        return AlpacaSource(
            AlpacaConfig(feed=self.alpaca_feed or None),
            api_key=_secret(self.alpaca_api_key, "APCA_API_KEY_ID"),
            secret_key=_secret(self.alpaca_secret_key, "APCA_API_SECRET_KEY"),
        )

    def actions(self) -> pl.DataFrame | None:
        """The corporate actions file's rows, or None when none is configured."""
        return load_actions(self.corporate_actions) if self.corporate_actions else None

    def available_days(self) -> tuple[date, date]:
        """First and last day the source has (synthetic and directory sources only)."""
        if self.source == "synthetic":
            days = SyntheticSource(self.synthetic_config()).days()
            return days[0], days[-1]
        if self.source == "directory":
            bars = self.bar_source().fetch(self.universe(), *WIDE_RANGE)
            if bars.height == 0:
                raise ValueError(f"market_data: no bars in {self.directory}")
            stamps = bars["timestamp"]
            return stamps.min().date(), stamps.max().date()
        raise ValueError(f"market_data: give the date range to ingest from {self.source}")

    def oracle_ic(self) -> float | None:
        """The synthetic market's oracle IC (None for real data)."""
        if self.source != "synthetic":
            return None
        return self._synthetic().oracle_ic()
