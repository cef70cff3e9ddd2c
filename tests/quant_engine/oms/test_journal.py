"""The journal in SQLite and in PostgreSQL: ids, intents before sending, broker updates."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from quant_engine.brokers.base import MAX_CLIENT_ORDER_ID, Order
from quant_engine.oms import OrderIntent, OrderJournal, client_order_id
from quant_engine.oms.database import database_url, make_engine
from tests.quant_engine.oms.conftest import executor, paper_broker, targets

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DAY = date(2026, 11, 20)


def test_client_order_ids_are_deterministic_short_and_distinct():
    assert client_order_id("alpha", DAY, "AAPL", "buy", 0) == "alpha-20261120-AAPL-b-0"
    assert client_order_id("alpha", DAY, "AAPL", "buy", 0) == client_order_id(
        "alpha", DAY, "AAPL", "buy", 0
    )
    ids = {
        client_order_id(strategy, DAY, symbol, side, attempt)
        for strategy in ("alpha", "a-strategy-with-a-long-name")
        for symbol in ("AAPL", "BTC/USDT", "A-VERY-LONG-SYMBOL-NAME-USED-ON-SOME-EXCHANGE.X")
        for side in ("buy", "sell")
        for attempt in (0, 1, 12)
    }
    assert len(ids) == 2 * 3 * 2 * 3
    assert all(0 < len(i) <= MAX_CLIENT_ORDER_ID for i in ids)
    assert all(
        set(i) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        for i in ids
    )
    with pytest.raises(ValueError, match="attempt"):
        client_order_id("alpha", DAY, "AAPL", "buy", -1)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request, tmp_path):
    """A journal in a SQLite file, or in a schema of its own in the machine's PostgreSQL."""
    if request.param == "sqlite":
        yield OrderJournal(tmp_path / "journal.db")
        return
    schema = f"oms_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {error}")
    engine = sa.create_engine(
        database_url(PG_URL), connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        yield OrderJournal(engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def intent(strategy: str, symbol: str = "AAPL", quantity: str = "10") -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id(strategy, DAY, symbol, "buy", 0),
        strategy=strategy,
        trading_day=DAY,
        symbol=symbol,
        side="buy",
        attempt=0,
        quantity=Decimal(quantity),
        decision_price=Decimal("187.123456789"),
    )


def test_intent_then_broker_states_are_kept_exactly(journal):
    strategy = f"t{uuid.uuid4().hex[:8]}"  # a fresh strategy per run keeps PostgreSQL rows apart
    first = journal.record_intent(intent(strategy, quantity="0.000123456789"), "paper:x")
    assert first.status == "intended" and first.quantity == Decimal("0.000123456789")
    assert first.decision_price == Decimal("187.123456789")
    journal.update(first.client_order_id, "submitted")
    order = Order(
        client_order_id=first.client_order_id,
        broker_order_id="b-1",
        symbol="AAPL",
        side="buy",
        quantity=Decimal("0.000123456789"),
        status="partially_filled",
        filled_quantity=Decimal("0.0001"),
        average_fill_price=Decimal("187.2"),
    )
    entry = journal.apply(order)
    assert entry.status == "partially_filled" and entry.filled_quantity == Decimal("0.0001")
    assert entry.broker_order_id == "b-1" and entry.average_fill_price == Decimal("187.2")
    assert [e[0] for e in journal.events(first.client_order_id)] == [
        "intended",
        "submitted",
        "partially_filled",
    ]
    assert [e.client_order_id for e in journal.orders(strategy, DAY)] == [first.client_order_id]


def test_an_unsent_intent_takes_a_new_size_but_a_placed_id_is_never_reused(journal):
    strategy = f"t{uuid.uuid4().hex[:8]}"
    first = journal.record_intent(intent(strategy, quantity="10"), "paper:x")
    again = journal.record_intent(intent(strategy, quantity="12"), "paper:x")
    assert again.client_order_id == first.client_order_id and again.quantity == Decimal(12)
    journal.update(first.client_order_id, "filled", filled_quantity=Decimal(12))
    with pytest.raises(ValueError, match="already filled"):
        journal.record_intent(intent(strategy), "paper:x")
    with pytest.raises(KeyError, match="not in the journal"):
        journal.update("nope", "filled")


def test_a_rebalance_journaled_here_reruns_without_a_second_order(journal, tmp_path):
    broker = paper_broker(tmp_path)
    first = executor(broker, journal).run(targets(AAA=100, BBB=50))
    assert len(first.sent) == 2
    assert executor(broker, journal).run(targets(AAA=100, BBB=50)).sent == []
    assert {s: p.quantity for s, p in broker.positions().items()} == {
        "AAA": Decimal(100),
        "BBB": Decimal(50),
    }
    assert [e.status for e in journal.orders("alpha", first.trading_day)] == ["filled"] * 2
    frozen = journal.freeze_targets("alpha", DAY, {"AAA": Decimal(1)}, {"AAA": Decimal(2)})
    again = journal.freeze_targets("alpha", DAY, {"AAA": Decimal(9)}, {"AAA": Decimal(3)})
    assert frozen == again == ({"AAA": Decimal(1)}, {"AAA": Decimal(2)})
