"""Shadow mode's virtual portfolio: orders fill at the last price, nothing is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from quant_engine.brokers.base import Account, Order, OrderRequest, Position


@dataclass
class VirtualBook:
    """Cash, signed positions with average prices, and every shadow order by client id."""

    cash: Decimal
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)

    @classmethod
    def copy_of(cls, account: Account, positions: dict[str, Position]) -> VirtualBook:
        return cls(
            cash=account.cash,
            positions={s: (p.quantity, p.average_price) for s, p in positions.items()},
        )

    def fill(self, request: OrderRequest, price: Decimal, at: datetime) -> Order:
        """Fill ``request`` whole at ``price`` (its limit price, if that is better)."""
        if request.limit_price is not None:
            price = (
                min(price, request.limit_price)
                if request.side == "buy"
                else max(price, request.limit_price)
            )
        signed = request.quantity if request.side == "buy" else -request.quantity
        held, average = self.positions.get(request.symbol, (Decimal(0), Decimal(0)))
        new = held + signed
        if held == 0 or (new != 0 and (held > 0) != (new > 0)):
            average = price
        elif abs(new) > abs(held):
            average = (held * average + signed * price) / new
        if new == 0:
            self.positions.pop(request.symbol, None)
        else:
            self.positions[request.symbol] = (new, average)
        self.cash -= signed * price
        order = Order(
            client_order_id=request.client_order_id,
            broker_order_id=f"shadow-{len(self.orders) + 1}",
            symbol=request.symbol,
            side=request.side,
            quantity=request.quantity,
            status="filled",
            filled_quantity=request.quantity,
            average_fill_price=price,
            order_type=request.order_type,
            limit_price=request.limit_price,
            submitted_at=at,
        )
        self.orders[request.client_order_id] = order
        return order

    def account(self, prices: dict[str, Decimal]) -> Account:
        value = sum((q * prices.get(s, avg) for s, (q, avg) in self.positions.items()), Decimal(0))
        return Account(cash=self.cash, equity=self.cash + value, buying_power=self.cash)

    def position_map(self, prices: dict[str, Decimal]) -> dict[str, Position]:
        return {s: Position(s, q, avg, prices.get(s)) for s, (q, avg) in self.positions.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "cash": str(self.cash),
            "positions": {s: [str(q), str(a)] for s, (q, a) in self.positions.items()},
            "orders": {
                cid: {
                    "broker_order_id": o.broker_order_id,
                    "symbol": o.symbol,
                    "side": o.side,
                    "quantity": str(o.quantity),
                    "price": str(o.average_fill_price),
                    "order_type": o.order_type,
                    "limit_price": None if o.limit_price is None else str(o.limit_price),
                    "submitted_at": o.submitted_at.isoformat() if o.submitted_at else None,
                }
                for cid, o in self.orders.items()
            },
        }

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> VirtualBook:
        orders = {}
        for cid, o in payload.get("orders", {}).items():
            orders[cid] = Order(
                client_order_id=cid,
                broker_order_id=o["broker_order_id"],
                symbol=o["symbol"],
                side=o["side"],
                quantity=Decimal(o["quantity"]),
                status="filled",
                filled_quantity=Decimal(o["quantity"]),
                average_fill_price=Decimal(o["price"]),
                order_type=o["order_type"],
                limit_price=None if o["limit_price"] is None else Decimal(o["limit_price"]),
                submitted_at=None
                if o["submitted_at"] is None
                else datetime.fromisoformat(o["submitted_at"]),
            )
        return cls(
            cash=Decimal(payload["cash"]),
            positions={
                s: (Decimal(q), Decimal(a)) for s, (q, a) in payload.get("positions", {}).items()
            },
            orders=orders,
        )
