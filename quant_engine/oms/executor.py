"""Bring a broker account to its targets exactly once per intent.

Each run first resolves what earlier runs left unfinished (every journal row not final is looked
up at the broker by its client order id), then cancels conflicting open orders, sells, waits for
the sells, and sizes the buys from the cash then free. Every order is written to the journal
before it is sent under a deterministic client order id, so a retry or a restart sends the same
id again at most (and the broker refuses a second copy) instead of a second order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from quant_engine.brokers.base import (
    Broker,
    BrokerError,
    DuplicateClientOrderId,
    MarketClosed,
    Order,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
    Position,
)
from quant_engine.brokers.lots import LotRules
from quant_engine.oms.alerts import Alerter, LogAlerter
from quant_engine.oms.ids import client_order_id
from quant_engine.oms.journal import RESENDABLE, JournalEntry, OrderIntent, OrderJournal
from quant_engine.oms.planner import Plan, PlannedOrder, plan_rebalance

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
# Alpaca takes market-on-open (OPG) orders from 19:00 New York time for the next session's
# opening auction until 09:28; between 09:28 and 19:00 it rejects them.
OPG_ACCEPTS_FROM = clock_time(19, 0)
OPG_ACCEPTS_UNTIL = clock_time(9, 28)


def opg_window_wait(now: datetime) -> float:
    """Seconds until OPG orders are accepted again at ``now`` (0 while they are)."""
    local = now.astimezone(NEW_YORK)
    if local.time() < OPG_ACCEPTS_UNTIL or local.time() >= OPG_ACCEPTS_FROM:
        return 0.0
    opens = datetime.combine(local.date(), OPG_ACCEPTS_FROM, NEW_YORK)
    return (opens - local).total_seconds()


@dataclass(frozen=True)
class Targets:
    """Signed target quantities for one trading day, and the prices they were decided at."""

    trading_day: date
    quantities: Mapping[str, Decimal]
    prices: Mapping[str, Decimal]


@dataclass(frozen=True)
class ExecutorConfig:
    """Who trades (the id prefix), when orders go out, what to do when the market is closed.

    ``timing``: ``when_open`` sends market DAY orders while the broker's clock says open (the
    sells first, the buys from the cash they free); ``market_on_open`` sends every order at once
    as a market-on-open order (``opg``) for the next opening auction, the fill the backtest
    assumes, waiting up to ``max_wait_seconds`` for the broker's OPG window.
    """

    strategy: str = "daily"
    timing: Literal["when_open", "market_on_open"] = "when_open"
    on_market_closed: Literal["wait", "queue", "fail"] = "queue"
    max_wait_seconds: float = 0.0  # longest wait for the open (or the OPG window), then queue
    fill_timeout_seconds: float = 30.0  # how long to wait for orders to finish each phase
    poll_interval_seconds: float = 0.5

    def __post_init__(self) -> None:
        if self.timing not in ("when_open", "market_on_open"):
            raise ValueError(f"unknown order timing {self.timing!r}")
        if self.on_market_closed not in ("wait", "queue", "fail"):
            raise ValueError(f"unknown on_market_closed {self.on_market_closed!r}")
        if not self.strategy or len(self.strategy) > 24:
            raise ValueError(f"strategy name {self.strategy!r} must have 1 to 24 characters")


@dataclass
class RebalanceReport:
    """What a run did: the plan it made, what it sent, and what needs a person."""

    trading_day: date
    broker: str
    dry_run: bool
    planned: list[PlannedOrder] = field(default_factory=list)  # sells phase, then the rest
    cancelled: list[str] = field(default_factory=list)  # broker order ids
    sent: list[str] = field(default_factory=list)  # client order ids placed this run
    duplicates: list[str] = field(default_factory=list)  # of those, found placed before
    rejected: dict[str, str] = field(default_factory=dict)  # client order id -> reason
    unresolved: list[str] = field(default_factory=list)  # outcome still unknown
    notes: dict[str, str] = field(default_factory=dict)  # symbol -> why not at target
    queued: bool = False  # the market was closed: nothing was sent
    positions_before: dict[str, Position] = field(default_factory=dict)


class RebalanceExecutor:
    """Runs rebalances of one strategy against one broker, journaled in ``journal``."""

    def __init__(
        self,
        broker: Broker,
        journal: OrderJournal,
        config: ExecutorConfig | None = None,
        rules: Mapping[str, LotRules] | None = None,
        alerter: Alerter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.broker = broker
        self.journal = journal
        self.config = config or ExecutorConfig()
        self.rules = dict(rules or {})
        self.alerter = alerter or LogAlerter()
        self._sleep = sleep

    def preview(self, targets: Targets) -> RebalanceReport:
        """The orders a run would send now (buys counting the sells' proceeds); sends nothing."""
        report = RebalanceReport(targets.trading_day, self.broker.name, dry_run=True)
        plan = self._plan(targets, count_sell_proceeds=True)
        report.planned = plan.orders
        report.cancelled = [o.broker_order_id for o in plan.cancels]
        report.notes = dict(plan.notes)
        report.positions_before = self.broker.positions()
        return report

    def run(self, targets: Targets) -> RebalanceReport:
        """Resolve earlier runs, then cancel, sell, wait, buy, wait. Idempotent per day."""
        day = targets.trading_day
        report = RebalanceReport(day, self.broker.name, dry_run=False)
        self.resolve(day, report)
        market_on_open = self.config.timing == "market_on_open"
        if not (self._opg_window() if market_on_open else self._market_open()):
            report.queued = True
            return report
        report.positions_before = self.broker.positions()
        # On-open orders fill together at the auction: one phase, buys counting the sells.
        for phase in ("all",) if market_on_open else ("sells", "all"):
            plan = self._plan(targets, count_sell_proceeds=market_on_open)
            if plan.cancels:
                self._cancel(plan.cancels, report)
                plan = self._plan(targets, count_sell_proceeds=market_on_open)
            orders = plan.sells if phase == "sells" else plan.orders
            report.planned.extend(orders)
            report.notes.update(plan.notes)
            placed = []
            for planned in orders:
                sent = self._place(planned, day, report)
                if report.queued:
                    return report
                if sent is not None:
                    placed.append(sent)
            if not market_on_open:  # on-open orders fill at the next open, not now
                self._await(placed, report)
        return report

    # --- steps ------------------------------------------------------------------------------
    def resolve(self, day: date, report: RebalanceReport) -> None:
        """Look up every unfinished journal order of ``day`` at the broker; record its fate."""
        for entry in self.journal.orders(self.config.strategy, day):
            if entry.is_terminal:
                continue
            found = self._lookup(entry.client_order_id, report)
            if found is not None:
                self._record(found, report)

    def _plan(self, targets: Targets, count_sell_proceeds: bool = False) -> Plan:
        positions = self.broker.positions()
        open_orders = self.broker.open_orders()
        account = self.broker.account()
        return plan_rebalance(
            targets.quantities,
            targets.prices,
            positions,
            account.cash,
            open_orders,
            self.rules,
            count_sell_proceeds=count_sell_proceeds,
        )

    def _market_open(self) -> bool:
        clock = self.broker.clock()
        if clock.is_open:
            return True
        policy = self.config.on_market_closed
        if policy == "fail":
            raise MarketClosed(f"market closed at {clock.timestamp}; next open {clock.next_open}")
        if policy == "wait" and clock.next_open is not None:
            wait = (clock.next_open - clock.timestamp).total_seconds()
            if 0 <= wait <= self.config.max_wait_seconds:
                log.info("market closed: waiting %.0fs for the open", wait)
                self._sleep(wait)
                return self.broker.clock().is_open
        log.warning("market closed at %s: rebalance queued", clock.timestamp)
        return False

    def _opg_window(self) -> bool:
        """Whether on-open orders can go out now, after waiting for the window if allowed."""
        wait = opg_window_wait(self.broker.clock().timestamp)
        if wait == 0:
            return True
        if self.config.on_market_closed == "fail":
            raise MarketClosed(f"market-on-open orders are not accepted for {wait:.0f}s more")
        if wait <= self.config.max_wait_seconds:
            log.info("waiting %.0fs for the market-on-open window", wait)
            self._sleep(wait)
            return opg_window_wait(self.broker.clock().timestamp) == 0
        log.warning("market-on-open window opens in %.0fs: rebalance queued", wait)
        return False

    def _cancel(self, orders: list[Order], report: RebalanceReport) -> None:
        for order in orders:
            self.broker.cancel(order.broker_order_id)
            report.cancelled.append(order.broker_order_id)
        self._await(orders, report)

    def _attempt(self, day: date, planned: PlannedOrder, report: RebalanceReport) -> int | None:
        """The attempt number for a new order, or None where an earlier one was rejected."""
        rows = self.journal.orders(self.config.strategy, day, planned.symbol, planned.side)
        for entry in rows:
            if entry.status == "rejected":
                detail = f"{entry.client_order_id} was rejected ({entry.reason}); not retried"
                report.notes[planned.symbol] = detail
                return None
        for entry in rows:
            if entry.client_order_id in report.unresolved:
                report.notes[planned.symbol] = (
                    f"outcome of {entry.client_order_id} unknown: looked up again next run"
                )
                return None
        for entry in rows:
            if entry.status in RESENDABLE:
                # Not found at the broker: sending the same id again cannot place a second order.
                return entry.attempt
        return max((e.attempt for e in rows), default=-1) + 1

    def _place(
        self, planned: PlannedOrder, day: date, report: RebalanceReport
    ) -> OrderRequest | None:
        attempt = self._attempt(day, planned, report)
        if attempt is None:
            return None
        coid = client_order_id(self.config.strategy, day, planned.symbol, planned.side, attempt)
        intent = OrderIntent(
            client_order_id=coid,
            strategy=self.config.strategy,
            trading_day=day,
            symbol=planned.symbol,
            side=planned.side,
            attempt=attempt,
            quantity=planned.quantity,
            decision_price=planned.price,
        )
        self.journal.record_intent(intent, self.broker.name)
        request = OrderRequest(
            coid,
            planned.symbol,
            planned.side,
            planned.quantity,
            time_in_force="opg" if self.config.timing == "market_on_open" else "day",
            reference_price=planned.price,
        )
        self.journal.update(coid, "submitted")
        try:
            order = self.broker.submit(request)
        except DuplicateClientOrderId:
            found = self._lookup(coid, report)
            if found is None:
                self.journal.update(coid, "unknown", reason="duplicate id, yet not found")
                if coid not in report.unresolved:
                    report.unresolved.append(coid)
                return None
            self._record(found, report)
            report.sent.append(coid)  # placed by this intent, an earlier attempt of it
            report.duplicates.append(coid)
            return request
        except OutcomeUnknown as error:
            self.journal.update(coid, "unknown", reason=f"outcome unknown: {error}")
            found = self._lookup(coid, report)
            if found is None:
                if coid not in report.unresolved:
                    report.unresolved.append(coid)
                self.alerter.alert("order outcome unknown", f"{coid}: {error}")
                return None
            self._record(found, report)
            report.sent.append(coid)
            return request
        except MarketClosed as error:
            self.journal.update(coid, "queued", reason=str(error))
            report.queued = True
            return None
        except OrderRejected as error:
            reason = f"{error.code or 'rejected'}: {error}"
            self.journal.update(coid, "rejected", reason=reason)
            report.rejected[coid] = reason
            self.alerter.alert("order rejected", f"{coid}: {reason}")
            return None
        report.sent.append(coid)
        self._record(order, report)
        return request

    def _await(self, sent: list[OrderRequest] | list[Order], report: RebalanceReport) -> None:
        """Poll ``sent`` until none is open or the fill timeout passes; journal their states."""
        waiting = {o.client_order_id for o in sent}
        deadline = time.monotonic() + self.config.fill_timeout_seconds
        while waiting:
            for coid in sorted(waiting):
                found = self._lookup(coid, report)
                if found is not None:
                    self._record(found, report)
                    if not found.is_open:
                        waiting.discard(coid)
            if not waiting or time.monotonic() >= deadline:
                break
            self._sleep(self.config.poll_interval_seconds)
        for coid in sorted(waiting):
            log.warning("order %s still open after %.0fs", coid, self.config.fill_timeout_seconds)

    def _lookup(self, coid: str, report: RebalanceReport) -> Order | None:
        """The broker's order under ``coid``, None if it has none. A failed lookup leaves the
        order unresolved, so that nothing is sent for it in this run."""
        try:
            return self.broker.order_by_client_id(coid)
        except BrokerError as error:
            log.warning("looking up %s failed: %s", coid, error)
            if coid not in report.unresolved:
                report.unresolved.append(coid)
            return None

    def _record(self, order: Order, report: RebalanceReport) -> JournalEntry | None:
        if self.journal.get(order.client_order_id) is None:
            return None  # not ours (placed by hand or by another strategy)
        entry = self.journal.apply(order)
        if order.status == "rejected":
            reason = order.reason or "rejected by the broker"
            if entry.client_order_id not in report.rejected:
                report.rejected[entry.client_order_id] = reason
                self.alerter.alert("order rejected", f"{entry.client_order_id}: {reason}")
        if entry.client_order_id in report.unresolved and entry.status != "unknown":
            report.unresolved.remove(entry.client_order_id)
        return entry
