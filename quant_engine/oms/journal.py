"""The order journal: every intent and what became of it, in a SQL database.

An intent is written (status ``intended``) before its order is sent; each later step
(``submitted``, ``unknown``, ``acknowledged``, fills, ``rejected``, ``cancelled``) updates the row
and appends an event, so a restarted run can tell what was placed. Decimals are stored as text
so that no quantity or price is rounded on the way through the database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal

import sqlalchemy as sa

from quant_engine.brokers.base import Order, OrderType, Side
from quant_engine.oms.database import make_engine

JournalStatus = Literal[
    "intended",
    "queued",
    "submitted",
    "unknown",
    "acknowledged",
    "partially_filled",
    "filled",
    "cancelled",
    "rejected",
    "expired",
    "superseded",  # a rejected intent an operator released for a new attempt
]
TERMINAL: frozenset[str] = frozenset({"filled", "cancelled", "rejected", "expired", "superseded"})
# Not known to be at the broker: sending again under the same client order id is safe.
RESENDABLE: frozenset[str] = frozenset({"intended", "queued", "submitted", "unknown"})
_FROM_BROKER = {
    "new": "acknowledged",
    "accepted": "acknowledged",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "cancelled": "cancelled",
    "rejected": "rejected",
    "expired": "expired",
}

metadata = sa.MetaData()
orders_table = sa.Table(
    "oms_orders",
    metadata,
    sa.Column("client_order_id", sa.String(48), primary_key=True),
    sa.Column("strategy", sa.String(64), nullable=False),
    sa.Column("trading_day", sa.Date, nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("quantity", sa.String(64), nullable=False),
    sa.Column("order_type", sa.String(16), nullable=False),
    sa.Column("limit_price", sa.String(64)),
    sa.Column("decision_price", sa.String(64)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("broker", sa.String(64), nullable=False),
    sa.Column("broker_order_id", sa.String(128)),
    sa.Column("filled_quantity", sa.String(64), nullable=False),
    sa.Column("average_fill_price", sa.String(64)),
    sa.Column("reason", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("strategy", "trading_day", "symbol", "side", "attempt"),
)
events_table = sa.Table(
    "oms_order_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("client_order_id", sa.String(48), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.Text),
)

targets_table = sa.Table(
    "oms_targets",
    metadata,
    sa.Column("strategy", sa.String(64), primary_key=True),
    sa.Column("trading_day", sa.Date, primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("quantity", sa.String(64), nullable=False),
    sa.Column("price", sa.String(64), nullable=False),
)


@dataclass(frozen=True)
class OrderIntent:
    """An order the OMS means to place, with the price it was decided at."""

    client_order_id: str
    strategy: str
    trading_day: date
    symbol: str
    side: Side
    attempt: int
    quantity: Decimal
    decision_price: Decimal | None = None
    order_type: OrderType = "market"
    limit_price: Decimal | None = None


@dataclass(frozen=True)
class JournalEntry:
    """One journal row."""

    client_order_id: str
    strategy: str
    trading_day: date
    symbol: str
    side: Side
    attempt: int
    quantity: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    decision_price: Decimal | None
    status: JournalStatus
    broker: str
    broker_order_id: str | None
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    reason: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def signed_filled(self) -> Decimal:
        return self.filled_quantity if self.side == "buy" else -self.filled_quantity


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class OrderJournal:
    """Orders of every strategy and trading day in one SQL database (created on first use)."""

    def __init__(self, target: str | os.PathLike[str] | sa.Engine) -> None:
        self.engine = target if isinstance(target, sa.Engine) else make_engine(target)
        metadata.create_all(self.engine)

    def record_intent(self, intent: OrderIntent, broker: str) -> JournalEntry:
        """Write ``intent`` before it is sent; an unsent row under the same id takes its size.

        Raises ``ValueError`` where the id is already at the broker (it must not be reused).
        """
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(orders_table).where(
                    orders_table.c.client_order_id == intent.client_order_id
                )
            ).first()
            if row is None:
                conn.execute(
                    orders_table.insert().values(
                        client_order_id=intent.client_order_id,
                        strategy=intent.strategy,
                        trading_day=intent.trading_day,
                        symbol=intent.symbol,
                        side=intent.side,
                        attempt=intent.attempt,
                        quantity=str(intent.quantity),
                        order_type=intent.order_type,
                        limit_price=_text(intent.limit_price),
                        decision_price=_text(intent.decision_price),
                        status="intended",
                        broker=broker,
                        filled_quantity="0",
                        created_at=now,
                        updated_at=now,
                    )
                )
            elif row.status in RESENDABLE:
                conn.execute(
                    orders_table.update()
                    .where(orders_table.c.client_order_id == intent.client_order_id)
                    .values(
                        quantity=str(intent.quantity),
                        limit_price=_text(intent.limit_price),
                        decision_price=_text(intent.decision_price),
                        updated_at=now,
                    )
                )
            else:
                raise ValueError(
                    f"client order id {intent.client_order_id} is already {row.status}; "
                    "a new intent needs a new attempt"
                )
            detail = f"{intent.side} {intent.quantity} {intent.symbol} @ {intent.decision_price}"
            conn.execute(
                events_table.insert().values(
                    client_order_id=intent.client_order_id, status="intended", at=now, detail=detail
                )
            )
        entry = self.get(intent.client_order_id)
        assert entry is not None
        return entry

    def update(
        self,
        client_order_id: str,
        status: JournalStatus,
        *,
        broker_order_id: str | None = None,
        filled_quantity: Decimal | None = None,
        average_fill_price: Decimal | None = None,
        reason: str | None = None,
    ) -> None:
        """Move an order to ``status`` (recording what the broker said) and log the event."""
        now = datetime.now(UTC)
        values: dict[str, object] = {"status": status, "updated_at": now}
        if broker_order_id is not None:
            values["broker_order_id"] = broker_order_id
        if filled_quantity is not None:
            values["filled_quantity"] = str(filled_quantity)
        if average_fill_price is not None:
            values["average_fill_price"] = str(average_fill_price)
        if reason is not None:
            values["reason"] = reason
        with self.engine.begin() as conn:
            done = conn.execute(
                orders_table.update()
                .where(orders_table.c.client_order_id == client_order_id)
                .values(**values)
            )
            if done.rowcount != 1:
                raise KeyError(f"client order id {client_order_id} is not in the journal")
            conn.execute(
                events_table.insert().values(
                    client_order_id=client_order_id, status=status, at=now, detail=reason
                )
            )

    def apply(self, order: Order) -> JournalEntry:
        """Record the broker's view of an order (status, fills, its id)."""
        status = _FROM_BROKER[order.status]
        current = self.get(order.client_order_id)
        if current is None:
            raise KeyError(f"client order id {order.client_order_id} is not in the journal")
        changed = (
            current.status != status
            or current.filled_quantity != order.filled_quantity
            or current.broker_order_id != order.broker_order_id
        )
        if changed:
            self.update(
                order.client_order_id,
                status,  # type: ignore[arg-type]
                broker_order_id=order.broker_order_id,
                filled_quantity=order.filled_quantity,
                average_fill_price=order.average_fill_price,
                reason=order.reason,
            )
        entry = self.get(order.client_order_id)
        assert entry is not None
        return entry

    def freeze_targets(
        self,
        strategy: str,
        trading_day: date,
        quantities: dict[str, Decimal],
        prices: dict[str, Decimal],
    ) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """The day's targets: the first ones stored for it, else ``quantities`` (now stored).

        Sizing targets again on a rerun would follow the equity the day's own trading changed
        (costs, fills) and send small extra orders; the first decision of a day stands.
        """
        key = (targets_table.c.strategy == strategy) & (targets_table.c.trading_day == trading_day)
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(targets_table).where(key)).all()
            if not rows:
                conn.execute(
                    targets_table.insert(),
                    [
                        {
                            "strategy": strategy,
                            "trading_day": trading_day,
                            "symbol": symbol,
                            "quantity": str(quantity),
                            "price": str(prices[symbol]),
                        }
                        for symbol, quantity in quantities.items()
                    ],
                )
                return dict(quantities), {s: prices[s] for s in quantities}
        return (
            {r.symbol: Decimal(r.quantity) for r in rows},
            {r.symbol: Decimal(r.price) for r in rows},
        )

    def get(self, client_order_id: str) -> JournalEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(orders_table).where(orders_table.c.client_order_id == client_order_id)
            ).first()
        return None if row is None else _entry(row)

    def orders(
        self,
        strategy: str,
        trading_day: date,
        symbol: str | None = None,
        side: Side | None = None,
    ) -> list[JournalEntry]:
        """Orders of ``strategy`` on ``trading_day`` (of one symbol and side if given), by
        symbol, side and attempt."""
        query = (
            sa.select(orders_table)
            .where(orders_table.c.strategy == strategy, orders_table.c.trading_day == trading_day)
            .order_by(orders_table.c.symbol, orders_table.c.side, orders_table.c.attempt)
        )
        if symbol is not None:
            query = query.where(orders_table.c.symbol == symbol)
        if side is not None:
            query = query.where(orders_table.c.side == side)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def supersede_rejected(self, strategy: str, trading_day: date, reason: str) -> list[str]:
        """Release the day's rejected intents for one more attempt each (an operator's act,
        e.g. after a kill-switch reset): they become ``superseded``, and the next run sends a
        new order under the next attempt's id. Returns their client order ids."""
        rejected = [
            e.client_order_id for e in self.orders(strategy, trading_day) if e.status == "rejected"
        ]
        for coid in rejected:
            self.update(coid, "superseded", reason=f"released for retry: {reason}")
        return rejected

    def has_orders(self, strategy: str) -> bool:
        """Whether any order of ``strategy`` was ever journaled."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(orders_table.c.client_order_id)
                .where(orders_table.c.strategy == strategy)
                .limit(1)
            ).first()
        return row is not None

    def all_orders(self) -> list[JournalEntry]:
        query = sa.select(orders_table).order_by(
            orders_table.c.trading_day, orders_table.c.client_order_id
        )
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def events(self, client_order_id: str) -> list[tuple[str, datetime, str | None]]:
        """(status, time, detail) of every step of one order, oldest first."""
        query = (
            sa.select(events_table.c.status, events_table.c.at, events_table.c.detail)
            .where(events_table.c.client_order_id == client_order_id)
            .order_by(events_table.c.id)
        )
        with self.engine.connect() as conn:
            return [(r.status, _utc(r.at), r.detail) for r in conn.execute(query)]


def _entry(row: sa.Row) -> JournalEntry:
    return JournalEntry(
        client_order_id=row.client_order_id,
        strategy=row.strategy,
        trading_day=row.trading_day,
        symbol=row.symbol,
        side=row.side,
        attempt=row.attempt,
        quantity=Decimal(row.quantity),
        order_type=row.order_type,
        limit_price=_dec(row.limit_price),
        decision_price=_dec(row.decision_price),
        status=row.status,
        broker=row.broker,
        broker_order_id=row.broker_order_id,
        filled_quantity=Decimal(row.filled_quantity),
        average_fill_price=_dec(row.average_fill_price),
        reason=row.reason,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )
