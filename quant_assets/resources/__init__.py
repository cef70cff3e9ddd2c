"""Configurable resources: storage, experiment tracking and market data."""

from quant_assets.resources.io_manager import (
    BarStoreIOManager,
    DailyFrame,
    DayFrameIOManager,
    IngestedBars,
    PolarsParquetIOManager,
    StoredBars,
)
from quant_assets.resources.market_data import MarketDataResource
from quant_assets.resources.mlflow import MlflowResource
from quant_assets.resources.portfolio import PortfolioResource

__all__ = [
    "BarStoreIOManager",
    "DailyFrame",
    "DayFrameIOManager",
    "IngestedBars",
    "MarketDataResource",
    "MlflowResource",
    "PolarsParquetIOManager",
    "PortfolioResource",
    "StoredBars",
]
