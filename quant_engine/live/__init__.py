"""The intraday live loop: bars from a feed to a strategy in a worker thread."""

from quant_engine.live.ccxt_trades_feed import CcxtTradeFeed, CcxtTradesConfig, async_exchange
from quant_engine.live.engine import (
    EngineStats,
    LiveEngine,
    LiveEngineConfig,
    LiveEngineHalted,
    LiveStrategy,
)
from quant_engine.live.feeds import replay
from quant_engine.live.polling_feed import PollingBarFeed, PollingFeedConfig

__all__ = [
    "CcxtTradeFeed",
    "CcxtTradesConfig",
    "EngineStats",
    "LiveEngine",
    "LiveEngineConfig",
    "LiveEngineHalted",
    "LiveStrategy",
    "PollingBarFeed",
    "PollingFeedConfig",
    "async_exchange",
    "replay",
]
