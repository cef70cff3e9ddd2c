"""Loopback stand-ins of the vendor APIs, started per test, for the real clients to talk to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stand_ins.alpaca import AlpacaStandIn
from tests.stand_ins.binance_klines import BinanceKlinesStandIn
from tests.stand_ins.databento import DatabentoStandIn
from tests.stand_ins.tls import self_signed_certificate

DATABENTO_KEY = "db-TEST-SECRET-KEY-0123456789abcdef"
DATASET = "XNAS.ITCH"
ALPACA_KEY_ID = "PK-TEST-KEY-ID-4711"
ALPACA_SECRET = "alpaca-TEST-SECRET-abcdef0123456789"


class Sleeps(list[float]):
    """Records the waits a source asks for instead of sleeping (tests stay fast)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def databento_server(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[DatabentoStandIn]:
    """Databento's historical endpoint over HTTPS; requests trust its certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    with DatabentoStandIn(certificate, DATABENTO_KEY, DATASET) as server:
        yield server


@pytest.fixture
def alpaca_server() -> Iterator[AlpacaStandIn]:
    """Alpaca's market-data API, three bars a page so that paging shows."""
    with AlpacaStandIn(ALPACA_KEY_ID, ALPACA_SECRET, page_size=3) as server:
        yield server


@pytest.fixture
def binance_server() -> Iterator[BinanceKlinesStandIn]:
    """binance's candles endpoint; point a ccxt exchange at it with ``server.point``."""
    with BinanceKlinesStandIn() as server:
        yield server
