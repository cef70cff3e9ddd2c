"""Bar sources behind one protocol: files, the synthetic market, Databento, ccxt, Alpaca."""

from quant_engine.data.sources.alpaca import AlpacaConfig, AlpacaSource
from quant_engine.data.sources.base import BarSource, Timeframe
from quant_engine.data.sources.ccxt import CcxtConfig, CcxtSource
from quant_engine.data.sources.databento import (
    DatabentoConfig,
    DatabentoSource,
    DbnFileConfig,
    DbnFileSource,
)
from quant_engine.data.sources.retry import RetryPolicy, SourceError

__all__ = [
    "AlpacaConfig",
    "AlpacaSource",
    "BarSource",
    "CcxtConfig",
    "CcxtSource",
    "DatabentoConfig",
    "DatabentoSource",
    "DbnFileConfig",
    "DbnFileSource",
    "RetryPolicy",
    "SourceError",
    "Timeframe",
]
