"""Bar sources behind one protocol: files, the synthetic market, Databento, ccxt, Alpaca."""

from quant_engine.data.sources.base import BarSource, Timeframe

__all__ = ["BarSource", "Timeframe"]
