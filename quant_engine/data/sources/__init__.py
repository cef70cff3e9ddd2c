"""Bar sources behind one protocol: files, the synthetic market, Databento, ccxt, Alpaca.

The names below are imported on first use, so that a run with one source does not import the
other vendors' clients.
"""

from importlib import import_module
from typing import TYPE_CHECKING

_WHERE = {
    "AlpacaConfig": "alpaca",
    "AlpacaSource": "alpaca",
    "BarSource": "base",
    "Timeframe": "base",
    "CcxtConfig": "ccxt",
    "CcxtSource": "ccxt",
    "DatabentoConfig": "databento",
    "DatabentoSource": "databento",
    "DbnFileConfig": "databento",
    "DbnFileSource": "databento",
    "RetryPolicy": "retry",
    "SourceError": "retry",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)


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
