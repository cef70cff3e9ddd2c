"""Real alpaca-py and ccxt clients against loopback stand-ins of Alpaca and binance spot."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from quant_engine.brokers.alpaca import AlpacaBroker, AlpacaConfig
from quant_engine.brokers.ccxt import CcxtBroker, CcxtConfig, make_exchange
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.binance_spot import BinanceSpotStandIn, usdt_markets
from tests.stand_ins.trading_server import LoopbackServer

# Fake credentials, distinctive enough to be found if they ever leak into a log or an error.
ALPACA_KEY = "PKLEAKCHECKKEY0000001"
ALPACA_SECRET = "alpaca-secret-leakcheck-9f8e7d6c5b4a"
BINANCE_KEY = "binance-key-leakcheck-1a2b3c4d"
BINANCE_SECRET = "binance-secret-leakcheck-5e6f7a8b"

# Short enough to keep tests fast, long enough for a loopback answer on a busy machine.
CLIENT_TIMEOUT_SECONDS = 1.0
BEYOND_TIMEOUT_SECONDS = 2.0

# binance options: spot markets only, no currency or margin endpoints (the stand-in has none).
BINANCE_SPOT_OPTIONS = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
}


@pytest.fixture
def alpaca_account() -> AlpacaTradingStandIn:
    return AlpacaTradingStandIn(
        api_key=ALPACA_KEY,
        secret_key=ALPACA_SECRET,
        prices={"AAPL": Decimal("150.25"), "MSFT": Decimal("400.10"), "SPY": Decimal("500")},
        cash=Decimal("100000"),
    )


@pytest.fixture
def alpaca_server(alpaca_account: AlpacaTradingStandIn) -> Iterator[LoopbackServer]:
    with LoopbackServer(alpaca_account) as server:
        yield server


def alpaca_config(server: LoopbackServer, **overrides: object) -> AlpacaConfig:
    settings: dict = {
        "url_override": server.url,
        "timeout_seconds": CLIENT_TIMEOUT_SECONDS,
        "retry_wait_seconds": 0.01,
        **overrides,
    }
    return AlpacaConfig(**settings)


@pytest.fixture
def alpaca_broker(alpaca_server: LoopbackServer) -> AlpacaBroker:
    return AlpacaBroker(alpaca_config(alpaca_server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)


@pytest.fixture
def binance_account() -> BinanceSpotStandIn:
    return BinanceSpotStandIn(
        api_key=BINANCE_KEY,
        secret=BINANCE_SECRET,
        markets=usdt_markets(),
        prices={"BTCUSDT": Decimal("50000.00"), "ETHUSDT": Decimal("3000.00")},
        free={"USDT": Decimal("10000"), "ETH": Decimal("1.5")},
    )


@pytest.fixture
def binance_server(binance_account: BinanceSpotStandIn) -> Iterator[LoopbackServer]:
    with LoopbackServer(binance_account) as server:
        yield server


def ccxt_config(server: LoopbackServer, **overrides: object) -> CcxtConfig:
    settings: dict = {
        "exchange_id": "binance",
        "api_url": server.url,
        "timeout_ms": int(CLIENT_TIMEOUT_SECONDS * 1000),
        "options": BINANCE_SPOT_OPTIONS,
        **overrides,
    }
    return CcxtConfig(**settings)


def ccxt_broker_for(server: LoopbackServer, **overrides: object) -> CcxtBroker:
    config = ccxt_config(server, **overrides)
    return CcxtBroker(make_exchange(config, BINANCE_KEY, BINANCE_SECRET), config)


@pytest.fixture
def ccxt_broker(binance_server: LoopbackServer) -> CcxtBroker:
    return ccxt_broker_for(binance_server)
