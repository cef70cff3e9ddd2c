"""Broker positions vs targets vs the journal, per symbol, with slippage vs the decision price."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from quant_engine.brokers.base import Position
from quant_engine.brokers.lots import WHOLE_SHARES, LotRules
from quant_engine.oms.journal import JournalEntry

_ZERO = Decimal(0)


@dataclass(frozen=True)
class Reconciliation:
    """One row per symbol in the targets, at the broker or traded today, and a summary."""

    table: pl.DataFrame
    summary: dict[str, float | int]


def reconcile(
    targets: Mapping[str, Decimal],
    positions: Mapping[str, Position],
    orders: Iterable[JournalEntry] = (),
    positions_before: Mapping[str, Position] | None = None,
    rules: Mapping[str, LotRules] | None = None,
    default_rules: LotRules = WHOLE_SHARES,
    open_prices: Mapping[str, Decimal] | None = None,
) -> Reconciliation:
    """Compare ``positions`` with ``targets`` and, given ``positions_before``, with the fills.

    ``unexplained`` is the change in a position that the day's journaled fills do not account
    for (``None`` without ``positions_before``). Slippage is signed so that a cost is positive:
    ``(fill - decision) / decision`` in basis points for buys, the negative for sells;
    ``slippage_vs_open_bps`` is the same against ``open_prices`` (the next session's open, the
    fill the backtest assumes), null where no open is given.
    """
    open_prices = open_prices or {}
    rules = rules or {}
    filled: dict[str, Decimal] = {}
    fill_value: dict[str, Decimal] = {}
    slip_cost: dict[str, Decimal] = {}
    open_value: dict[str, Decimal] = {}
    open_cost: dict[str, Decimal] = {}
    for entry in orders:
        if entry.filled_quantity == 0 or entry.average_fill_price is None:
            continue
        s = entry.symbol
        filled[s] = filled.get(s, _ZERO) + entry.signed_filled
        if s in open_prices:
            sign = 1 if entry.side == "buy" else -1
            reference = open_prices[s]
            open_value[s] = open_value.get(s, _ZERO) + entry.filled_quantity * reference
            open_cost[s] = (
                open_cost.get(s, _ZERO)
                + sign * (entry.average_fill_price - reference) * entry.filled_quantity
            )
        if entry.decision_price is not None:
            notional = entry.filled_quantity * entry.decision_price
            fill_value[s] = fill_value.get(s, _ZERO) + notional
            sign = 1 if entry.side == "buy" else -1
            cost = sign * (entry.average_fill_price - entry.decision_price) * entry.filled_quantity
            slip_cost[s] = slip_cost.get(s, _ZERO) + cost
    rows = []
    symbols = sorted(set(targets) | set(positions) | set(filled))
    for symbol in symbols:
        target = targets.get(symbol, _ZERO)
        held = positions[symbol].quantity if symbol in positions else _ZERO
        difference = held - target
        lot = rules.get(symbol, default_rules).lot
        before = None
        unexplained = None
        if positions_before is not None:
            before = positions_before[symbol].quantity if symbol in positions_before else _ZERO
            unexplained = held - before - filled.get(symbol, _ZERO)
        notional = fill_value.get(symbol, _ZERO)
        cost = slip_cost.get(symbol)
        rows.append(
            {
                "symbol": symbol,
                "target_quantity": float(target),
                "position_quantity": float(held),
                "difference": float(difference),
                "within_lot": difference == 0 or abs(difference) < lot,
                "in_targets": symbol in targets and target != 0,
                "at_broker": symbol in positions,
                "position_before": None if before is None else float(before),
                "filled_today": float(filled.get(symbol, _ZERO)),
                "unexplained": None if unexplained is None else float(unexplained),
                "slippage_cost": None if cost is None else float(cost),
                "slippage_bps": None
                if cost is None or not notional
                else float(cost / notional * 10_000),
                "slippage_vs_open_bps": float(open_cost[symbol] / open_value[symbol] * 10_000)
                if open_value.get(symbol)
                else None,
            }
        )
    table = pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String,
            "target_quantity": pl.Float64,
            "position_quantity": pl.Float64,
            "difference": pl.Float64,
            "within_lot": pl.Boolean,
            "in_targets": pl.Boolean,
            "at_broker": pl.Boolean,
            "position_before": pl.Float64,
            "filled_today": pl.Float64,
            "unexplained": pl.Float64,
            "slippage_cost": pl.Float64,
            "slippage_bps": pl.Float64,
            "slippage_vs_open_bps": pl.Float64,
        },
    )
    summary: dict[str, float | int] = {
        "n_symbols": table.height,
        "n_off_target": int((~table["within_lot"]).sum()),
        "n_only_at_broker": int((table["at_broker"] & ~table["in_targets"]).sum()),
        "n_only_in_targets": int((table["in_targets"] & ~table["at_broker"]).sum()),
        "n_unexplained": int((table["unexplained"].fill_null(0) != 0).sum()),
        "slippage_cost": float(sum(slip_cost.values(), _ZERO)),
        "slippage_vs_open_bps": float(
            sum(open_cost.values(), _ZERO) / sum(open_value.values(), _ZERO) * 10_000
        )
        if open_value
        else None,
    }
    return Reconciliation(table=table, summary=summary)
