"""Resources bound for every asset of the code location."""

import dagster as dg

from quant_assets.resources import (
    BarStoreIOManager,
    DayFrameIOManager,
    MarketDataResource,
    MlflowResource,
    PolarsParquetIOManager,
    PortfolioResource,
)
from quant_assets.resources.broker import BrokerResource


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "io_manager": PolarsParquetIOManager(),
            "bar_store_io_manager": BarStoreIOManager(),
            "day_store_io_manager": DayFrameIOManager(),
            "mlflow": MlflowResource(),
            "market_data": MarketDataResource(),
            "broker": BrokerResource(),
            "portfolio": PortfolioResource(),
        }
    )
