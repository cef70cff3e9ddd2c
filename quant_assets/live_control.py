"""Operator controls of the live accounts: status, halt, resume, init, retry, flatten.

One implementation for the ``quant live`` command and the ``live_control_job`` in Dagster. Every
act names who and why, is written to the account's risk state (its events) and logged.
"""

from __future__ import annotations

import getpass
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from quant_assets.accounts import load_accounts
from quant_assets.resources.broker import BrokerResource
from quant_engine.oms import OrderJournal, Targets
from quant_engine.risk import RiskState, initialise_risk_state

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")


def operator() -> str:
    """Who acts: the login name of the process."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def account(name: str | None) -> BrokerResource:
    """Account ``name`` of the accounts file (the only one where ``name`` is None)."""
    accounts = load_accounts()
    if name is None:
        if len(accounts) != 1:
            raise ValueError(f"several accounts ({', '.join(accounts)}): name one with --account")
        name = next(iter(accounts))
    if name not in accounts:
        raise ValueError(f"no account {name!r} (accounts: {', '.join(accounts)})")
    return BrokerResource(**accounts[name])


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _state(resource: BrokerResource) -> RiskState:
    return RiskState.load(resource.state_path(), required=resource.has_traded())


def status(name: str | None = None) -> list[dict[str, Any]]:
    """Kill switch, its history and today's orders, per account (all where ``name`` is None)."""
    names = [name] if name else list(load_accounts())
    out = []
    for each in names:
        resource = account(each)
        row: dict[str, Any] = {"account": resource.label, "state_file": str(resource.state_path())}
        try:
            state = _state(resource)
        except Exception as error:  # a missing or unreadable state: what the gate would say
            row.update(state="unusable", error=str(error))
        else:
            row.update(
                state="ok",
                kill_switch=state.kill_switch,
                kill_reason=state.kill_reason,
                tripped_at=state.tripped_at,
                events=state.events[-20:],
            )
        today = datetime.now(NEW_YORK).date()
        orders = OrderJournal(resource.database_url()).orders(resource.strategy, today)
        counts: dict[str, int] = {}
        for entry in orders:
            counts[entry.status] = counts.get(entry.status, 0) + 1
        row["orders_today"] = counts
        out.append(row)
    return out


def halt(name: str | None, reason: str, by: str | None = None) -> str:
    """Trip the account's kill switch: from now on only orders that reduce positions pass."""
    resource = account(name)
    state = _state(resource)
    who = by or operator()
    if not state.trip(f"halted by {who}: {reason}", _now()):
        return f"{resource.label}: kill switch already tripped ({state.kill_reason})"
    state.save(resource.state_path())
    log.warning("%s: kill switch tripped by %s: %s", resource.label, who, reason)
    return f"{resource.label}: kill switch tripped by {who}: {reason}"


def resume(name: str | None, reason: str, by: str | None = None) -> str:
    """Reset the account's kill switch."""
    resource = account(name)
    state = _state(resource)
    who = by or operator()
    state.reset(f"by {who}: {reason}", _now())
    state.save(resource.state_path())
    log.warning("%s: kill switch reset by %s: %s", resource.label, who, reason)
    return f"{resource.label}: kill switch reset by {who}: {reason}"


def init(name: str | None, reason: str, by: str | None = None) -> str:
    """Start a fresh risk state for an account whose state is missing (or unreadable)."""
    resource = account(name)
    who = by or operator()
    initialise_risk_state(resource.state_path(), by=who, reason=reason, at=_now())
    return f"{resource.label}: risk state {resource.state_path()} initialised by {who}: {reason}"


def retry(name: str | None, day: date, reason: str, by: str | None = None) -> str:
    """Release the day's rejected intents: the next rebalance of ``day`` sends them again."""
    resource = account(name)
    who = by or operator()
    released = OrderJournal(resource.database_url()).supersede_rejected(
        resource.strategy, day, f"by {who}: {reason}"
    )
    log.warning(
        "%s: %d rejected intent(s) of %s released by %s", resource.label, len(released), day, who
    )
    return f"{resource.label}: {len(released)} rejected intent(s) of {day} released: {released}"


def flatten(name: str | None, reason: str, by: str | None = None) -> dict[str, Any]:
    """Close every position through the risk gate in REDUCE-only mode, journaled (listed only
    where the account is dry-run). Returns what was sent and what was not."""
    resource = account(name).model_copy(update={"reduce_only": True})
    who = by or operator()
    session = resource.open(None)
    positions = session.gate.positions()
    prices = {s: p.market_price or p.average_price for s, p in positions.items() if p.quantity != 0}
    day = datetime.now(NEW_YORK).date()
    targets = Targets(day, dict.fromkeys(prices, Decimal(0)), prices)
    log.warning("%s: flatten by %s: %s (%d positions)", resource.label, who, reason, len(prices))
    executor = session.executor
    report = executor.preview(targets) if resource.dry_run else executor.run(targets)
    return {
        "account": resource.label,
        "dry_run": resource.dry_run,
        "positions": {s: str(p.quantity) for s, p in positions.items()},
        "planned": [f"{o.side} {o.quantity} {o.symbol}" for o in report.planned],
        "sent": report.sent,
        "rejected": report.rejected,
        "unresolved": report.unresolved,
        "queued_market_closed": report.queued,
    }
