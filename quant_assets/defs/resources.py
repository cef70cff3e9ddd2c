"""Resources bound for every asset of the code location."""

import dagster as dg

from quant_assets.resources import MarketDataResource, MlflowResource, PolarsParquetIOManager


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "io_manager": PolarsParquetIOManager(),
            "mlflow": MlflowResource(),
            "market_data": MarketDataResource(),
        }
    )
