"""The paper broker: simulated fills at the latest prices with the engine's cost model.

Cash, positions, orders (by client order id) and the latest quotes live in a SQL database
(a SQLite file by default), so an account survives restarts. A market order fills at the last
price moved against us by half the spread and the square-root impact of
:class:`~quant_engine.backtest.costs.CostModel`; the commission is charged to cash. With
``fill_ratio < 1`` an order fills partly at submission and the rest at the next quotes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import numpy as np
import polars as pl
import sqlalchemy as sa

from quant_engine.backtest.costs import CostModel
from quant_engine.brokers.base import (
    Account,
    BrokerError,
    DuplicateClientOrderId,
    MarketClock,
    MarketClosed,
    Order,
    OrderRejected,
    OrderRequest,
    Position,
)
from quant_engine.brokers.quotes import Quote, quotes_from_bars
from quant_engine.brokers.session_clock import SessionClock, SessionClockConfig
from quant_engine.oms.database import make_engine

_CENT = Decimal("0.01")

metadata = sa.MetaData()
accounts_table = sa.Table(
    "paper_accounts",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("cash", sa.String(64), nullable=False),
    sa.Column("order_seq", sa.Integer, nullable=False),
)
positions_table = sa.Table(
    "paper_positions",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("quantity", sa.String(64), nullable=False),
    sa.Column("average_price", sa.String(64), nullable=False),
)
orders_table = sa.Table(
    "paper_orders",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("client_order_id", sa.String(48), primary_key=True),
    sa.Column("broker_order_id", sa.String(64), nullable=False, unique=True),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("side", sa.String(4), nullable=False),
    sa.Column("quantity", sa.String(64), nullable=False),
    sa.Column("order_type", sa.String(16), nullable=False),
    sa.Column("limit_price", sa.String(64)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("filled_quantity", sa.String(64), nullable=False),
    sa.Column("average_fill_price", sa.String(64)),
    sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text),
)
quotes_table = sa.Table(
    "paper_quotes",
    metadata,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), primary_key=True),
    sa.Column("price", sa.String(64), nullable=False),
    sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sigma", sa.Float),
    sa.Column("adv", sa.Float),
)


@dataclass(frozen=True)
class PaperBrokerConfig:
    """Where the account lives and how it fills."""

    database: str = "paper_broker.db"  # a SQLite path or a SQLAlchemy URL
    account: str = "paper"
    initial_cash: Decimal = Decimal(1_000_000)
    costs: CostModel = field(default_factory=CostModel)
    clock: SessionClockConfig = field(default_factory=SessionClockConfig)
    allow_short: bool = False
    fill_ratio: Decimal = Decimal(1)  # share of an order filled at each pricing (partial fills)
    price_decimals: int = 4

    def __post_init__(self) -> None:
        if self.initial_cash < 0:
            raise ValueError(f"initial cash {self.initial_cash} must be >= 0")
        if not Decimal(0) < self.fill_ratio <= Decimal(1):
            raise ValueError(f"fill_ratio {self.fill_ratio} must be in (0, 1]")


class PaperBroker:
    """A simulated broker account persisted in a SQL database (implements ``Broker``)."""

    def __init__(
        self,
        config: PaperBrokerConfig | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config or PaperBrokerConfig()
        self.name = f"paper:{self.config.account}"
        self._session = SessionClock(self.config.clock, now)
        self._tick = Decimal(1).scaleb(-self.config.price_decimals)
        self.engine = make_engine(os.fspath(self.config.database))
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(accounts_table.c.account).where(
                    accounts_table.c.account == self.config.account
                )
            ).first()
            if exists is None:
                conn.execute(
                    accounts_table.insert().values(
                        account=self.config.account,
                        cash=str(self.config.initial_cash),
                        order_seq=0,
                    )
                )

    # --- prices -----------------------------------------------------------------------------
    def update_bars(self, bars: pl.DataFrame) -> None:
        """Take each symbol's latest bar as its quote, then fill what open orders can fill."""
        self.set_quotes(quotes_from_bars(bars))

    def set_quotes(self, quotes: Mapping[str, Quote]) -> None:
        """Store ``quotes`` (replacing older ones per symbol), then fill open orders."""
        account = self.config.account
        with self.engine.begin() as conn:
            symbols = list(quotes)
            conn.execute(
                quotes_table.delete().where(
                    quotes_table.c.account == account, quotes_table.c.symbol.in_(symbols)
                )
            )
            if symbols:
                conn.execute(
                    quotes_table.insert(),
                    [
                        {
                            "account": account,
                            "symbol": symbol,
                            "price": str(q.price),
                            "as_of": q.as_of,
                            "sigma": q.sigma,
                            "adv": q.adv,
                        }
                        for symbol, q in quotes.items()
                    ],
                )
            if self._session.clock().is_open:
                for row in conn.execute(self._open_orders_query()).all():
                    self._fill(conn, row)

    def quotes(self) -> dict[str, Quote]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(quotes_table).where(quotes_table.c.account == self.config.account)
            )
            return {r.symbol: _quote(r) for r in rows}

    # --- the Broker protocol ----------------------------------------------------------------
    def account(self) -> Account:
        with self.engine.connect() as conn:
            cash = self._cash(conn)
            quotes = {
                r.symbol: Decimal(r.price)
                for r in conn.execute(
                    sa.select(quotes_table.c.symbol, quotes_table.c.price).where(
                        quotes_table.c.account == self.config.account
                    )
                )
            }
            value = Decimal(0)
            for pos in conn.execute(self._positions_query()):
                value += Decimal(pos.quantity) * quotes.get(pos.symbol, Decimal(pos.average_price))
        return Account(cash=cash, equity=cash + value, buying_power=max(cash, Decimal(0)))

    def positions(self) -> dict[str, Position]:
        with self.engine.connect() as conn:
            quotes = {
                r.symbol: Decimal(r.price)
                for r in conn.execute(
                    sa.select(quotes_table.c.symbol, quotes_table.c.price).where(
                        quotes_table.c.account == self.config.account
                    )
                )
            }
            return {
                r.symbol: Position(
                    symbol=r.symbol,
                    quantity=Decimal(r.quantity),
                    average_price=Decimal(r.average_price),
                    market_price=quotes.get(r.symbol),
                )
                for r in conn.execute(self._positions_query())
            }

    def open_orders(self) -> list[Order]:
        with self.engine.connect() as conn:
            return [_order(r) for r in conn.execute(self._open_orders_query())]

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(orders_table).where(
                    orders_table.c.account == self.config.account,
                    orders_table.c.client_order_id == client_order_id,
                )
            ).first()
        return None if row is None else _order(row)

    def submit(self, request: OrderRequest) -> Order:
        """Place ``request``; a market order fills now (``fill_ratio`` of it) when open."""
        if not self._session.clock().is_open:
            raise MarketClosed(f"market closed: {request.client_order_id} not placed")
        try:
            with self.engine.begin() as conn:
                row = self._place(conn, request)
                row = self._fill(conn, row)
        except sa.exc.IntegrityError as error:
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id} exists already"
            ) from error
        return _order(row)

    def cancel(self, broker_order_id: str) -> None:
        """Cancel an open order; cancelling a finished order changes nothing."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(orders_table).where(
                    orders_table.c.account == self.config.account,
                    orders_table.c.broker_order_id == broker_order_id,
                )
            ).first()
            if row is None:
                raise BrokerError(f"no order {broker_order_id} in account {self.config.account}")
            if row.status in ("new", "accepted", "partially_filled"):
                conn.execute(
                    orders_table.update()
                    .where(orders_table.c.broker_order_id == broker_order_id)
                    .values(status="cancelled", reason="cancelled by request")
                )

    def clock(self) -> MarketClock:
        return self._session.clock()

    # --- internals --------------------------------------------------------------------------
    def _cash(self, conn: sa.Connection) -> Decimal:
        value = conn.execute(
            sa.select(accounts_table.c.cash).where(accounts_table.c.account == self.config.account)
        ).scalar_one()
        return Decimal(value)

    def _positions_query(self) -> sa.Select:
        return sa.select(positions_table).where(positions_table.c.account == self.config.account)

    def _open_orders_query(self) -> sa.Select:
        return (
            sa.select(orders_table)
            .where(
                orders_table.c.account == self.config.account,
                orders_table.c.status.in_(["new", "accepted", "partially_filled"]),
            )
            .order_by(orders_table.c.submitted_at, orders_table.c.client_order_id)
        )

    def _quote(self, conn: sa.Connection, symbol: str) -> Quote | None:
        row = conn.execute(
            sa.select(quotes_table).where(
                quotes_table.c.account == self.config.account, quotes_table.c.symbol == symbol
            )
        ).first()
        return None if row is None else _quote(row)

    def _position(self, conn: sa.Connection, symbol: str) -> tuple[Decimal, Decimal]:
        row = conn.execute(
            self._positions_query().where(positions_table.c.symbol == symbol)
        ).first()
        if row is None:
            return Decimal(0), Decimal(0)
        return Decimal(row.quantity), Decimal(row.average_price)

    def _place(self, conn: sa.Connection, request: OrderRequest) -> sa.Row:
        account = self.config.account
        exists = conn.execute(
            sa.select(orders_table.c.client_order_id).where(
                orders_table.c.account == account,
                orders_table.c.client_order_id == request.client_order_id,
            )
        ).first()
        if exists is not None:
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id} exists already"
            )
        quote = self._quote(conn, request.symbol)
        if quote is None:
            raise OrderRejected(f"no price for {request.symbol}", code="no_price")
        if request.side == "buy":
            price = request.limit_price or quote.price
            rate = Decimal(str(self.config.costs.linear_rate))
            needed = request.quantity * price * (1 + rate)
            if needed > self._cash(conn):
                raise OrderRejected(
                    f"buying {request.quantity} {request.symbol} needs {needed:.2f}, "
                    f"more than the cash {self._cash(conn):.2f}",
                    code="insufficient_buying_power",
                )
        elif not self.config.allow_short:
            held, _ = self._position(conn, request.symbol)
            selling = sum(
                (
                    Decimal(r.quantity) - Decimal(r.filled_quantity)
                    for r in conn.execute(
                        self._open_orders_query().where(
                            orders_table.c.symbol == request.symbol,
                            orders_table.c.side == "sell",
                        )
                    )
                ),
                Decimal(0),
            )
            if request.quantity + selling > held:
                raise OrderRejected(
                    f"selling {request.quantity} {request.symbol} with {held} held and "
                    f"{selling} already being sold would open a short",
                    code="insufficient_position",
                )
        seq = conn.execute(
            sa.select(accounts_table.c.order_seq).where(accounts_table.c.account == account)
        ).scalar_one()
        conn.execute(
            accounts_table.update()
            .where(accounts_table.c.account == account)
            .values(order_seq=seq + 1)
        )
        conn.execute(
            orders_table.insert().values(
                account=account,
                client_order_id=request.client_order_id,
                broker_order_id=f"{account}-{seq + 1}",
                symbol=request.symbol,
                side=request.side,
                quantity=str(request.quantity),
                order_type=request.order_type,
                limit_price=None if request.limit_price is None else str(request.limit_price),
                status="accepted",
                filled_quantity="0",
                submitted_at=self._session.now(),
            )
        )
        return self._order_row(conn, request.client_order_id)

    def _order_row(self, conn: sa.Connection, client_order_id: str) -> sa.Row:
        return conn.execute(
            sa.select(orders_table).where(
                orders_table.c.account == self.config.account,
                orders_table.c.client_order_id == client_order_id,
            )
        ).one()

    def _fill(self, conn: sa.Connection, row: sa.Row) -> sa.Row:
        """Fill what ``row`` can fill at the current quote; return the updated row."""
        quote = self._quote(conn, row.symbol)
        if quote is None:
            return row
        remaining = Decimal(row.quantity) - Decimal(row.filled_quantity)
        quantity = remaining
        if self.config.fill_ratio < 1:
            part = (remaining * self.config.fill_ratio).to_integral_value(rounding=ROUND_DOWN)
            quantity = part if part > 0 else remaining
        side = row.side
        notional = float(quantity * quote.price)
        costs = self.config.costs
        sigma = quote.sigma or 0.0
        adv = quote.adv or np.inf
        total = Decimal(str(float(costs.cost(np.array([notional]), sigma, adv)[0])))
        commission = (
            quantity * quote.price * Decimal(str(costs.commission_bps)) / 10_000
        ).quantize(_CENT, rounding=ROUND_UP)
        slip = max(total - commission, Decimal(0)) / quantity
        if side == "buy":
            price = (quote.price + slip).quantize(self._tick, rounding=ROUND_UP)
        else:
            price = (quote.price - slip).quantize(self._tick, rounding=ROUND_DOWN)
        limit = None if row.limit_price is None else Decimal(row.limit_price)
        if limit is not None and (
            (side == "buy" and price > limit) or (side == "sell" and price < limit)
        ):
            return row
        signed = quantity if side == "buy" else -quantity
        cash = self._cash(conn) - signed * price - commission
        held, average = self._position(conn, row.symbol)
        new = held + signed
        if new == 0:
            average = Decimal(0)
        elif held == 0 or (held > 0) != (new > 0):
            average = price  # opened or flipped
        elif abs(new) > abs(held):
            average = (held * average + signed * price) / new
        account = self.config.account
        conn.execute(
            accounts_table.update()
            .where(accounts_table.c.account == account)
            .values(cash=str(cash))
        )
        conn.execute(
            positions_table.delete().where(
                positions_table.c.account == account, positions_table.c.symbol == row.symbol
            )
        )
        if new != 0:
            conn.execute(
                positions_table.insert().values(
                    account=account,
                    symbol=row.symbol,
                    quantity=str(new),
                    average_price=str(average),
                )
            )
        filled_before = Decimal(row.filled_quantity)
        filled = filled_before + quantity
        previous = Decimal(row.average_fill_price or 0)
        fill_price = (previous * filled_before + price * quantity) / filled
        conn.execute(
            orders_table.update()
            .where(
                orders_table.c.account == account,
                orders_table.c.client_order_id == row.client_order_id,
            )
            .values(
                filled_quantity=str(filled),
                average_fill_price=str(fill_price),
                status="filled" if filled == Decimal(row.quantity) else "partially_filled",
            )
        )
        return self._order_row(conn, row.client_order_id)


def _quote(row: sa.Row) -> Quote:
    as_of = row.as_of if row.as_of.tzinfo else row.as_of.replace(tzinfo=UTC)
    return Quote(price=Decimal(row.price), as_of=as_of, sigma=row.sigma, adv=row.adv)


def _order(row: sa.Row) -> Order:
    submitted = row.submitted_at
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=UTC)
    return Order(
        client_order_id=row.client_order_id,
        broker_order_id=row.broker_order_id,
        symbol=row.symbol,
        side=row.side,
        quantity=Decimal(row.quantity),
        status=row.status,
        filled_quantity=Decimal(row.filled_quantity),
        average_fill_price=None
        if row.average_fill_price is None
        else Decimal(row.average_fill_price),
        order_type=row.order_type,
        limit_price=None if row.limit_price is None else Decimal(row.limit_price),
        submitted_at=submitted,
        reason=row.reason,
    )
