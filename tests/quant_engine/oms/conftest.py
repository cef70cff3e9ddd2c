"""A paper account with quotes, a journal and targets: the OMS tests' common ground."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.brokers.quotes import Quote
from quant_engine.oms import ExecutorConfig, OrderJournal, RebalanceExecutor, Targets

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PRICES = {"AAA": Decimal("10.5"), "BBB": Decimal("20"), "CCC": Decimal("55.25"), "DDD": Decimal(8)}


def quotes(prices: dict[str, Decimal] = PRICES) -> dict[str, Quote]:
    return {s: Quote(p, NOW, sigma=0.02, adv=5e7) for s, p in prices.items()}


def paper_broker(tmp: Path, **config: object) -> PaperBroker:
    broker = PaperBroker(
        PaperBrokerConfig(database=str(tmp / "paper.db"), initial_cash=Decimal(100_000), **config),
        now=lambda: NOW,
    )
    broker.set_quotes(quotes())
    return broker


def targets(**quantities: int) -> Targets:
    return Targets(DAY, {s: Decimal(q) for s, q in quantities.items()}, PRICES)


def executor(broker, journal: OrderJournal, **config: object) -> RebalanceExecutor:
    cfg = {"strategy": "alpha", "fill_timeout_seconds": 0.0, **config}
    return RebalanceExecutor(broker, journal, ExecutorConfig(**cfg), sleep=lambda s: None)


@pytest.fixture
def journal(tmp_path: Path) -> OrderJournal:
    return OrderJournal(tmp_path / "journal.db")
