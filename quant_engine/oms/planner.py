"""From target quantities to orders: what to cancel, what to sell, then what to buy with the
cash free.

The targets are the decision core's (:func:`quant_engine.oms.targets.target_quantities`, which
applies dust, minimum trade, size risk, costs reserved, the cash buffer, lots and the minimum
notional); this module plans nothing of its own. It only executes what remains between the
targets and the account, exactly, at the broker edge: after a partial fill it recomputes the
rest against the same targets, so a trade already decided is finished even where the rest is
below the minimum trade value.
Order quantities are ``Decimal``s rounded toward zero to each symbol's quantity step
(:class:`~quant_engine.brokers.lots.LotRules`; a position being closed is sold whole, odd lot
included). Orders below a symbol's minimum notional are skipped with a reason. Buys are scaled
down together, then re-rounded, when the cash actually free does not cover them all (fills and
costs differ from the decision's prices). Open orders in the wrong direction, or larger than
what is still needed, are cancelled first; open orders that fit are counted as pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from quant_engine.brokers.base import Order, Position, Side
from quant_engine.brokers.lots import WHOLE_SHARES, LotRules


@dataclass(frozen=True)
class PlannedOrder:
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal  # the decision price

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.price

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True)
class Plan:
    cancels: list[Order]
    sells: list[PlannedOrder]
    buys: list[PlannedOrder]
    notes: dict[str, str]  # symbol -> why it is not (fully) traded to its target

    @property
    def orders(self) -> list[PlannedOrder]:
        """Sells first, then buys."""
        return [*self.sells, *self.buys]


def _signed(order: Order) -> Decimal:
    return order.remaining if order.side == "buy" else -order.remaining


def plan_rebalance(
    targets: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    positions: Mapping[str, Position],
    cash: Decimal,
    open_orders: Iterable[Order] = (),
    rules: Mapping[str, LotRules] | None = None,
    default_rules: LotRules = WHOLE_SHARES,
    *,
    count_sell_proceeds: bool = False,
) -> Plan:
    """Orders that bring ``positions`` to ``targets`` (signed quantities; absent means 0).

    Symbols held but absent from ``targets`` are closed; symbols absent from ``rules`` trade
    under ``default_rules``. ``count_sell_proceeds`` lets buys use the sells' expected proceeds
    (for a preview); the executor sizes buys after sells filled.
    """
    rules = rules or {}
    by_symbol: dict[str, list[Order]] = {}
    for order in open_orders:
        if order.is_open:
            by_symbol.setdefault(order.symbol, []).append(order)

    cancels: list[Order] = []
    sells: list[PlannedOrder] = []
    wanted_buys: list[PlannedOrder] = []
    notes: dict[str, str] = {}
    reserved = Decimal(0)  # cash held by open buy orders that are kept
    for symbol in sorted(set(targets) | set(positions) | set(by_symbol)):
        current = positions[symbol].quantity if symbol in positions else Decimal(0)
        target = targets.get(symbol, Decimal(0))
        need = target - current
        pending = Decimal(0)
        for order in sorted(by_symbol.get(symbol, ()), key=lambda o: o.client_order_id):
            signed = _signed(order)
            fits = need != 0 and (signed > 0) == (need > 0) and abs(pending + signed) <= abs(need)
            if fits:
                pending += signed
                if order.side == "buy":
                    reserved += order.remaining * (order.limit_price or prices.get(symbol, 0))
            else:
                cancels.append(order)
        delta = need - pending
        if delta == 0:
            continue
        symbol_rules = rules.get(symbol, default_rules)
        closing = target == 0 and pending == 0 and delta == -current
        quantity = abs(delta) if closing else symbol_rules.round_down(abs(delta))
        if quantity == 0:
            continue  # within a lot of the target
        price = prices.get(symbol)
        if price is None or price <= 0:
            notes[symbol] = f"no price to trade {delta} toward target {target}"
            continue
        side: Side = "buy" if delta > 0 else "sell"
        planned = PlannedOrder(symbol, side, quantity, price)
        if planned.notional < (symbol_rules.min_notional or 0):
            notes[symbol] = (
                f"{side} {quantity} is worth {planned.notional}, below the minimum notional "
                f"{symbol_rules.min_notional}"
            )
            continue
        (sells if side == "sell" else wanted_buys).append(planned)

    free = cash - reserved
    if count_sell_proceeds:
        free += sum((o.notional for o in sells), Decimal(0))
    buys = _fit_to_cash(wanted_buys, free, rules, default_rules, notes)
    return Plan(cancels=cancels, sells=sells, buys=buys, notes=notes)


def _fit_to_cash(
    buys: list[PlannedOrder],
    free: Decimal,
    rules: Mapping[str, LotRules],
    default_rules: LotRules,
    notes: dict[str, str],
) -> list[PlannedOrder]:
    """Scale all buys by one factor so that they cost at most ``free``; re-round to lots."""
    total = sum((b.notional for b in buys), Decimal(0))
    if total <= free:
        return buys
    factor = max(free, Decimal(0)) / total
    fitted = []
    for buy in buys:
        symbol_rules = rules.get(buy.symbol, default_rules)
        quantity = symbol_rules.round_down(buy.quantity * factor)
        scaled = PlannedOrder(buy.symbol, buy.side, quantity, buy.price)
        if quantity == 0 or scaled.notional < (symbol_rules.min_notional or 0):
            notes[buy.symbol] = f"buy {buy.quantity} does not fit in the free cash {free:.2f}"
            continue
        if quantity < buy.quantity:
            notes[buy.symbol] = f"buy cut from {buy.quantity} to {quantity} by free cash"
        fitted.append(scaled)
    return fitted
