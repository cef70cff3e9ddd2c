"""The live daily rebalance: targets from the champion's signals, orders, reconciliation."""

from datetime import date, timedelta
from decimal import Decimal

import dagster as dg
import polars as pl

from quant_assets.defs.live.jobs import ACCOUNT_TAG, DAY_TAG
from quant_assets.metadata import column_schema
from quant_assets.resources import StoredBars
from quant_assets.resources.broker import BrokerResource
from quant_assets.resources.portfolio import PortfolioResource
from quant_engine.brokers.quotes import quotes_from_bars
from quant_engine.data.store import bar_day
from quant_engine.oms import Targets, reconcile, target_quantities
from quant_engine.oms.executor import RebalanceReport
from quant_engine.oms.targets import latest_target_portfolio
from quant_engine.risk import RiskStateError

POOL = "broker_account"  # dagster.yaml: one rebalance step at a time


def _md(frame: pl.DataFrame, rows: int = 50) -> dg.MetadataValue:
    with pl.Config(tbl_rows=rows, tbl_cols=frame.width, tbl_width_chars=200):
        return dg.MetadataValue.md(f"```\n{frame.head(rows)}\n```")


TARGET_COLUMNS = {
    "trading_day": "the signal day the targets are for (known after its close)",
    "score": "the champion's score that day",
    "weight": "target weight of equity (negative: short)",
    "price": "the day's close the weight is priced at",
}


@dg.asset(group_name="live", kinds={"polars"})
def target_portfolio(
    context: dg.AssetExecutionContext,
    portfolio: PortfolioResource,
    signals: pl.LazyFrame,
    raw_bars: StoredBars,
) -> dg.Output[pl.DataFrame]:
    """Target weights for the latest signal day, priced at that day's close, under the
    ``portfolio`` rules the backtest uses (the signals and bars of that day only are read)."""
    stamp = signals.select(pl.col("timestamp").max()).collect().item()
    latest = signals.filter(pl.col("timestamp") == stamp).collect()  # Parquet skips the rest
    last = latest.select(bar_day().max()).item()  # the stored bars are filed by UTC day
    bars = raw_bars.read(last, last + timedelta(days=1))
    frame = latest_target_portfolio(latest, bars, portfolio.construction())
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
            **column_schema(frame, TARGET_COLUMNS),
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


ACCOUNTS = dg.DynamicPartitionsDefinition(name="broker_account")  # one per account
OUTCOME_CHECK = "orders_complete"
ON_TARGET_CHECK = "on_target"


def _claim_run(context: dg.AssetExecutionContext, account: str, day: date) -> None:
    """Tag this run with its account and day, so that the sensor and the fallback schedule see
    it (a run launched by hand included) and request no second run of that day."""
    tags = {ACCOUNT_TAG: account, DAY_TAG: day.isoformat()}
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and any(run.tags.get(k) != v for k, v in tags.items()):
        context.instance.add_run_tags(context.run_id, tags)


def _problems(report, gate, dry_run: bool) -> list[str]:
    """Why this rebalance did not do its job (an empty list: it did)."""
    if dry_run:
        return []
    problems = []
    if report.queued:
        problems.append("market closed and the orders cannot be queued: nothing sent")
    if report.rejected:
        problems.append(f"{len(report.rejected)} order(s) rejected: {report.rejected}")
    if report.unresolved:
        problems.append(
            f"{len(report.unresolved)} order(s) with an unknown outcome: {report.unresolved}"
        )
    if gate.kill_switch:
        problems.append(f"kill switch tripped: {gate.state.kill_reason}")
    not_retried = {s: n for s, n in report.notes.items() if "not retried" in n}
    if not_retried:
        problems.append(f"earlier rejections not retried: {not_retried}")
    return problems


@dg.asset(
    group_name="live",
    kinds={"python"},
    pool=POOL,
    partitions_def=ACCOUNTS,
    ins={"raw_bars": dg.AssetIn(partition_mapping=dg.AllPartitionMapping())},
    check_specs=[dg.AssetCheckSpec(OUTCOME_CHECK, asset="rebalance", blocking=True)],
)
def rebalance(
    context: dg.AssetExecutionContext,
    target_portfolio: pl.DataFrame,
    raw_bars: pl.DataFrame,
    broker: BrokerResource,
    portfolio: PortfolioResource,
):
    """Orders that bring the account (the partition) to the targets: sent (idempotently), or
    only listed in dry-run. Target quantities come from the decision core's trade planner
    under the ``portfolio`` rules (dust, minimum trade, size risk), as in the backtest. One
    row per symbol: target, position before, order, its client id and status. The run fails
    (its blocking check) on rejections, unknown outcomes, a tripped kill switch or a market
    that takes no orders."""
    account = broker.for_account(context.partition_key)
    if account.universe is not None:  # this account's slice of the book
        target_portfolio = target_portfolio.filter(pl.col("symbol").is_in(account.universe))
        raw_bars = raw_bars.filter(pl.col("symbol").is_in(account.universe))
    day, weights, prices = _decision(target_portfolio)
    _claim_run(context, account.label, day)
    quotes = quotes_from_bars(raw_bars.filter(pl.col("timestamp").dt.date() <= day))
    try:
        session = account.open(quotes)
    except RiskStateError as error:
        raise dg.Failure(f"account {account.label}: nothing sent: {error}") from None
    context.log.info(
        f"account {account.label}: {session.endpoint}, "
        f"{'dry run' if account.dry_run else 'sending orders'}, timing {account.timing}"
    )
    state = session.gate.account()
    equity = state.equity
    # The portfolio's rules, its cash buffer included, exactly as the backtest applies them.
    quantities = target_quantities(
        portfolio.core(),
        weights,
        prices,
        session.gate.positions(),
        state.cash,
        session.rules,
        marks={s: q.price for s, q in quotes.items()},
        adv={s: q.adv for s, q in quotes.items() if q.adv is not None},
    )
    if not account.dry_run:
        quantities, prices = session.journal.freeze_targets(
            account.strategy, day, quantities, prices
        )
    targets = Targets(day, quantities, prices)
    executor = session.executor
    report = executor.preview(targets) if account.dry_run else executor.run(targets)
    entries = {
        (e.symbol, e.side): e for e in session.journal.orders(account.strategy, day)
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
                "status": ("planned" if account.dry_run else None)
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
    sent = set(report.sent)
    filled = [e for e in entries.values() if e.client_order_id in sent and e.status == "filled"]
    context.log.info(
        f"{session.label} {day}: {orders.height} order(s) "
        f"{'listed (dry run)' if account.dry_run else 'planned'}, {len(report.sent)} sent"
    )
    problems = _problems(report, session.gate, account.dry_run)
    for problem in problems:
        context.log.error(f"{session.label} {day}: {problem}")
    yield dg.Output(
        frame,
        metadata={
            "broker": session.label,
            "endpoint": session.endpoint,
            "trading_day": str(day),
            "dry_run": account.dry_run,
            "shadow_mode": account.shadow_mode,
            "order_timing": account.timing,
            "equity": float(equity),
            "n_orders": orders.height,
            "n_sent": len(report.sent),
            "n_filled": len(filled),
            "n_duplicates": len(report.duplicates),
            "n_rejected": len(report.rejected),
            "n_unresolved": len(report.unresolved),
            "n_cancelled": len(report.cancelled),
            "queued_market_closed": report.queued,
            "kill_switch": session.gate.kill_switch,
            "orders": _md(orders),
            "rejections": dg.MetadataValue.json(report.rejected),
        },
    )
    yield dg.AssetCheckResult(
        check_name=OUTCOME_CHECK,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(problems) if problems else "every planned order placed",
        metadata={"problems": dg.MetadataValue.json(problems)},
    )


def _open_prices(raw_bars: pl.DataFrame, day: date) -> dict[str, Decimal]:
    """Each symbol's open of the first session after ``day``: the fill the backtest assumes."""
    if "open" not in raw_bars.columns:
        return {}
    after = raw_bars.filter(pl.col("timestamp").dt.date() > day)
    if after.is_empty():
        return {}
    first = after.filter(pl.col("timestamp").dt.date() == after["timestamp"].dt.date().min())
    return {s: Decimal(str(p)) for s, p in zip(first["symbol"], first["open"], strict=True)}


@dg.asset(
    group_name="live",
    kinds={"polars"},
    pool=POOL,
    partitions_def=ACCOUNTS,
    ins={
        "rebalance": dg.AssetIn(),
        "raw_bars": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
    },
    check_specs=[dg.AssetCheckSpec(ON_TARGET_CHECK, asset="reconciliation", blocking=True)],
)
def reconciliation(
    context: dg.AssetExecutionContext,
    rebalance: pl.DataFrame,
    raw_bars: pl.DataFrame,
    broker: BrokerResource,
):
    """Positions vs targets vs the day's journal, with slippage against the decision price and,
    once the next session's bars are in, against its open. Its check fails where positions are
    off target and no order for them is still waiting (market-on-open orders wait for the
    open: run ``reconcile_job`` after it)."""
    account = broker.for_account(context.partition_key)
    day = rebalance["trading_day"][0]
    session = account.open(None)
    if not account.dry_run:  # the fills since the rebalance (e.g. at the open) into the journal
        session.executor.resolve(day, RebalanceReport(day, session.label, dry_run=False))
    positions = session.gate.positions()
    targets = {
        s: Decimal(str(q))
        for s, q in zip(rebalance["symbol"], rebalance["target_quantity"], strict=True)
    }
    before = dict(zip(rebalance["symbol"], rebalance["position_before"], strict=True))
    journal = session.journal.orders(account.strategy, day)
    result = reconcile(
        targets,
        positions,
        journal,
        positions_before=None if account.dry_run else _positions(before),
        rules=session.rules,
        open_prices=_open_prices(raw_bars, day),
    )
    snapshot = pl.DataFrame(
        {
            "symbol": list(positions),
            "quantity": [float(p.quantity) for p in positions.values()],
            "average_price": [float(p.average_price) for p in positions.values()],
        },
        schema={"symbol": pl.String, "quantity": pl.Float64, "average_price": pl.Float64},
    )
    waiting = sorted({e.symbol for e in journal if not e.is_terminal})
    off = result.table.filter(~pl.col("within_lot") & ~pl.col("symbol").is_in(waiting))
    passed = account.dry_run or off.is_empty()
    if not passed:
        context.log.error(f"{off.height} symbol(s) off target: {off['symbol'].to_list()}")
    yield dg.Output(
        result.table.with_columns(pl.lit(day).alias("trading_day")),
        metadata={
            "broker": session.label,
            "trading_day": str(day),
            **{k: v for k, v in result.summary.items()},
            "n_waiting": len(waiting),
            "positions": _md(snapshot),
            "target_vs_actual": _md(result.table),
        },
    )
    yield dg.AssetCheckResult(
        check_name=ON_TARGET_CHECK,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"off target: {off['symbol'].to_list()}"
            if not passed
            else f"on target; {len(waiting)} symbol(s) with orders still working: {waiting}"
        ),
    )


def _positions(before: dict[str, float]):
    from quant_engine.brokers.base import Position

    return {s: Position(s, Decimal(str(q)), Decimal(0)) for s, q in before.items() if q != 0}
