"""The live daily rebalance: targets from the champion's signals, orders, reconciliation."""

from datetime import date
from decimal import Decimal
from typing import Literal

import dagster as dg
import polars as pl

from quant_assets.resources.broker import BrokerResource
from quant_engine.brokers.quotes import quotes_from_bars
from quant_engine.oms import Targets, reconcile, targets_from_weights
from quant_engine.oms.targets import latest_target_portfolio
from quant_engine.portfolio import ConstructionConfig

POOL = "broker_account"  # dagster.yaml: one rebalance step at a time


class TargetPortfolioConfig(dg.Config):
    mode: Literal["long_only", "long_short"] = "long_only"
    top_k: int = 10
    max_weight: float = 1.0


def _md(frame: pl.DataFrame, rows: int = 50) -> dg.MetadataValue:
    with pl.Config(tbl_rows=rows, tbl_cols=frame.width, tbl_width_chars=200):
        return dg.MetadataValue.md(f"```\n{frame.head(rows)}\n```")


@dg.asset(group_name="live", kinds={"polars"})
def target_portfolio(
    context: dg.AssetExecutionContext,
    config: TargetPortfolioConfig,
    signals: pl.DataFrame,
    raw_bars: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """Target weights for the latest signal day, priced at that day's close."""
    construction = ConstructionConfig(
        mode=config.mode, top_k=config.top_k, max_weight=config.max_weight
    )
    frame = latest_target_portfolio(signals, raw_bars, construction)
    day = frame["trading_day"][0]
    held = frame.filter(pl.col("weight") != 0)
    context.log.info(f"targets for {day}: {held.height} names of {frame.height}")
    return dg.Output(
        frame,
        metadata={
            "trading_day": str(day),
            "n_names": held.height,
            "gross_weight": float(held["weight"].abs().sum()),
            "net_weight": float(held["weight"].sum()),
            "targets": _md(held.sort("weight", descending=True)),
        },
    )


def _decision(target_portfolio: pl.DataFrame) -> tuple[date, dict[str, float], dict[str, Decimal]]:
    day = target_portfolio["trading_day"][0]
    weights = dict(zip(target_portfolio["symbol"], target_portfolio["weight"], strict=True))
    prices = {
        s: Decimal(str(p))
        for s, p in zip(target_portfolio["symbol"], target_portfolio["price"], strict=True)
    }
    return day, weights, prices


@dg.asset(group_name="live", kinds={"python"}, pool=POOL)
def rebalance(
    context: dg.AssetExecutionContext,
    target_portfolio: pl.DataFrame,
    raw_bars: pl.DataFrame,
    broker: BrokerResource,
) -> dg.Output[pl.DataFrame]:
    """Orders that bring the account to the targets: sent (idempotently), or only listed in
    dry-run. One row per symbol: target, position before, order, its client id and status."""
    day, weights, prices = _decision(target_portfolio)
    quotes = quotes_from_bars(raw_bars.filter(pl.col("timestamp").dt.date() <= day))
    session = broker.open(quotes)
    equity = session.gate.account().equity
    # Weights apply to the equity less the cash the planner holds back for costs, so that a
    # fully invested book is reachable with the cash actually free.
    investable = equity * (1 - session.executor.config.planner.cash_buffer_pct)
    quantities = targets_from_weights(weights, prices, investable, session.rules)
    if not broker.dry_run:
        quantities, prices = session.journal.freeze_targets(
            broker.strategy, day, quantities, prices
        )
    targets = Targets(day, quantities, prices)
    executor = session.executor
    report = executor.preview(targets) if broker.dry_run else executor.run(targets)
    entries = {
        (e.symbol, e.side): e for e in session.journal.orders(broker.strategy, day)
    }  # the latest attempt per symbol and side
    planned: dict[str, tuple[str, Decimal]] = {}  # symbol -> side, quantity over both phases
    for order in report.planned:
        _, quantity = planned.get(order.symbol, (order.side, Decimal(0)))
        planned[order.symbol] = (order.side, quantity + order.quantity)
    rows = []
    for symbol in sorted(set(quantities) | set(report.positions_before) | set(planned)):
        order = planned.get(symbol)
        before = report.positions_before.get(symbol)
        entry = None if order is None else entries.get((symbol, order[0]))
        rows.append(
            {
                "trading_day": day,
                "symbol": symbol,
                "target_quantity": float(quantities.get(symbol, 0)),
                "position_before": float(before.quantity) if before else 0.0,
                "decision_price": float(prices[symbol]) if symbol in prices else None,
                "side": None if order is None else order[0],
                "quantity": None if order is None else float(order[1]),
                "client_order_id": None if entry is None else entry.client_order_id,
                "status": ("planned" if broker.dry_run else None)
                if entry is None
                else entry.status,
                "note": report.notes.get(symbol),
            }
        )
    frame = pl.DataFrame(
        rows,
        schema={
            "trading_day": pl.Date,
            "symbol": pl.String,
            "target_quantity": pl.Float64,
            "position_before": pl.Float64,
            "decision_price": pl.Float64,
            "side": pl.String,
            "quantity": pl.Float64,
            "client_order_id": pl.String,
            "status": pl.String,
            "note": pl.String,
        },
    )
    orders = frame.filter(pl.col("side").is_not_null())
    if report.rejected:
        context.log.error(f"{len(report.rejected)} order(s) rejected: {report.rejected}")
    context.log.info(
        f"{session.label} {day}: {orders.height} order(s) "
        f"{'listed (dry run)' if broker.dry_run else 'planned'}, {len(report.sent)} sent"
    )
    return dg.Output(
        frame,
        metadata={
            "broker": session.label,
            "trading_day": str(day),
            "dry_run": broker.dry_run,
            "shadow_mode": broker.shadow_mode,
            "equity": float(equity),
            "n_orders": orders.height,
            "n_sent": len(report.sent),
            "n_rejected": len(report.rejected),
            "n_unresolved": len(report.unresolved),
            "n_cancelled": len(report.cancelled),
            "queued_market_closed": report.queued,
            "kill_switch": session.gate.kill_switch,
            "orders": _md(orders),
            "rejections": dg.MetadataValue.json(report.rejected),
        },
    )


@dg.asset(group_name="live", kinds={"polars"}, pool=POOL)
def reconciliation(
    context: dg.AssetExecutionContext, rebalance: pl.DataFrame, broker: BrokerResource
) -> dg.Output[pl.DataFrame]:
    """Positions vs targets vs the day's journal, with slippage against the decision price."""
    day = rebalance["trading_day"][0]
    session = broker.open(None)
    positions = session.gate.positions()
    targets = {
        s: Decimal(str(q))
        for s, q in zip(rebalance["symbol"], rebalance["target_quantity"], strict=True)
    }
    before = dict(zip(rebalance["symbol"], rebalance["position_before"], strict=True))
    result = reconcile(
        targets,
        positions,
        session.journal.orders(broker.strategy, day),
        positions_before=None if broker.dry_run else _positions(before),
        rules=session.rules,
    )
    snapshot = pl.DataFrame(
        {
            "symbol": list(positions),
            "quantity": [float(p.quantity) for p in positions.values()],
            "average_price": [float(p.average_price) for p in positions.values()],
        },
        schema={"symbol": pl.String, "quantity": pl.Float64, "average_price": pl.Float64},
    )
    off = result.table.filter(~pl.col("within_lot"))
    if off.height and not broker.dry_run:
        context.log.warning(f"{off.height} symbol(s) off target after the rebalance")
    return dg.Output(
        result.table.with_columns(pl.lit(day).alias("trading_day")),
        metadata={
            "broker": session.label,
            "trading_day": str(day),
            **{k: v for k, v in result.summary.items()},
            "positions": _md(snapshot),
            "target_vs_actual": _md(result.table),
        },
    )


def _positions(before: dict[str, float]):
    from quant_engine.brokers.base import Position

    return {s: Position(s, Decimal(str(q)), Decimal(0)) for s, q in before.items() if q != 0}
