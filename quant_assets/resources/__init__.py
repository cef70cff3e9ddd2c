"""Configurable resources: storage, experiment tracking and market data."""

from quant_assets.resources.io_manager import (
    BarStoreIOManager,
    IngestedBars,
    PolarsParquetIOManager,
)
from quant_assets.resources.market_data import MarketDataResource
from quant_assets.resources.mlflow import MlflowResource
from quant_assets.resources.portfolio import PortfolioResource

__all__ = [
    "BarStoreIOManager",
    "IngestedBars",
    "MarketDataResource",
    "MlflowResource",
    "PolarsParquetIOManager",
    "PortfolioResource",
]
