"""Market data: the canonical bar schema, its validator, loaders and the synthetic market."""

from quant_engine.data.loaders import load_bar_directory
from quant_engine.data.schema import BAR_COLUMNS, BAR_SCHEMA, BarValidationError, validate_bars
from quant_engine.data.synthetic import SyntheticMarket, SyntheticMarketConfig, generate_market

__all__ = [
    "BAR_COLUMNS",
    "BAR_SCHEMA",
    "BarValidationError",
    "SyntheticMarket",
    "SyntheticMarketConfig",
    "generate_market",
    "load_bar_directory",
    "validate_bars",
]
