"""Configurable resources: storage, experiment tracking and market data."""

from quant_assets.resources.io_manager import PolarsParquetIOManager
from quant_assets.resources.market_data import LoadedBars, MarketDataResource
from quant_assets.resources.mlflow import MlflowResource

__all__ = ["LoadedBars", "MarketDataResource", "MlflowResource", "PolarsParquetIOManager"]
