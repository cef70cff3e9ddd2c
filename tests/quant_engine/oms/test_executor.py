"""The executor brings the account to its targets once: reruns, kills and faults send no extras."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from quant_engine.brokers.base import (
    DuplicateClientOrderId,
    MarketClosed,
    OrderRequest,
    OutcomeUnknown,
)
from quant_engine.brokers.paper import PaperBroker, orders_table
from quant_engine.brokers.session_clock import SessionClockConfig
from quant_engine.oms import OrderJournal, RecordingAlerter, client_order_id
from quant_engine.risk import RiskConfig, RiskGate
from tests.conftest import REPO_ROOT
from tests.quant_engine.oms.conftest import DAY, executor, paper_broker, quotes, targets

TARGETS = {"AAA": 200, "BBB": 100, "CCC": 50}  # DDD is held and not a target: closed


class Killed(BaseException):
    """The process died: nothing after this point of the run happens."""


class Faulty:
    """A broker whose ``fail_at``-th call takes effect and then raises ``error`` (or Killed)."""

    def __init__(
        self, broker: PaperBroker, fail_at: int | None, error: BaseException | None = None
    ):
        self.broker, self.fail_at, self.error = broker, fail_at, error or Killed()
        self.name = broker.name
        self.calls: list[str] = []

    def _call(self, method: str, *args):
        self.calls.append(method)
        result = getattr(self.broker, method)(*args)
        if len(self.calls) == self.fail_at:
            raise self.error
        return result

    def account(self):
        return self._call("account")

    def positions(self):
        return self._call("positions")

    def open_orders(self):
        return self._call("open_orders")

    def order_by_client_id(self, coid):
        return self._call("order_by_client_id", coid)

    def submit(self, request):
        return self._call("submit", request)

    def cancel(self, broker_order_id):
        return self._call("cancel", broker_order_id)

    def clock(self):
        return self._call("clock")


def seeded(tmp: Path, **config) -> PaperBroker:
    """A paper account holding 300 AAA and 40 DDD, bought by hand before the strategy runs."""
    broker = paper_broker(tmp, **config)
    broker.submit(OrderRequest("manual-1", "AAA", "buy", Decimal(300)))
    broker.submit(OrderRequest("manual-2", "DDD", "buy", Decimal(40)))
    return broker


def broker_orders(broker: PaperBroker) -> list[tuple[str, str, str]]:
    with broker.engine.connect() as conn:
        rows = conn.execute(sa.select(orders_table).order_by(orders_table.c.client_order_id))
        return [(r.client_order_id, r.symbol, r.side) for r in rows]


def holdings(broker) -> dict[str, Decimal]:
    return {s: p.quantity for s, p in broker.positions().items()}


def expected() -> dict[str, Decimal]:
    return {s: Decimal(q) for s, q in TARGETS.items()}


def test_rebalance_reaches_targets_sells_first_and_a_rerun_sends_nothing(tmp_path, journal):
    broker = seeded(tmp_path)
    report = executor(broker, journal).run(targets(**TARGETS))
    assert holdings(broker) == expected()
    sides = [journal.get(c).side for c in report.sent]
    assert sides == ["sell", "sell", "buy", "buy"]  # AAA, DDD sold before BBB, CCC bought
    assert all(journal.get(c).status == "filled" for c in report.sent)
    assert [e[0] for e in journal.events(report.sent[0])] == ["intended", "submitted", "filled"]
    before = broker_orders(broker)
    again = executor(broker, journal).run(targets(**TARGETS))
    assert again.sent == [] and broker_orders(broker) == before


def test_dry_run_lists_the_orders_and_sends_nothing(tmp_path, journal):
    broker = seeded(tmp_path)
    before = broker_orders(broker)
    preview = executor(broker, journal).preview(targets(**TARGETS))
    planned = [(o.symbol, o.side, o.quantity) for o in preview.planned]
    assert planned == [
        ("AAA", "sell", Decimal(100)),
        ("DDD", "sell", Decimal(40)),
        ("BBB", "buy", Decimal(100)),
        ("CCC", "buy", Decimal(50)),
    ]
    assert broker_orders(broker) == before and journal.all_orders() == []


def clean_run_calls(tmp: Path) -> int:
    broker = Faulty(seeded(tmp), fail_at=None)
    executor(broker, OrderJournal(tmp / "journal.db")).run(targets(**TARGETS))
    return len(broker.calls)


def test_a_kill_after_any_broker_call_then_reruns_send_no_extra_order(tmp_path):
    total = clean_run_calls(tmp_path / "clean")
    assert total > 10
    for fail_at in range(1, total + 1):
        tmp = tmp_path / f"kill-{fail_at}"
        broker = seeded(tmp)
        journal = OrderJournal(tmp / "journal.db")
        with pytest.raises(Killed):
            executor(Faulty(broker, fail_at), journal).run(targets(**TARGETS))
        for _ in range(2):
            executor(broker, journal).run(targets(**TARGETS))
        orders = broker_orders(broker)
        placed = [(symbol, side) for coid, symbol, side in orders if coid.startswith("alpha")]
        assert sorted(placed) == sorted(
            [("AAA", "sell"), ("DDD", "sell"), ("BBB", "buy"), ("CCC", "buy")]
        ), f"kill after call {fail_at}: {orders}"
        assert holdings(broker) == expected(), f"kill after call {fail_at}"


class KilledJournal(OrderJournal):
    """A journal whose ``fail_at``-th write is committed, then the process dies."""

    def __init__(self, target, fail_at: int | None) -> None:
        super().__init__(target)
        self.fail_at, self.writes = fail_at, 0

    def _wrote(self) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise Killed()

    def record_intent(self, intent, broker):
        entry = super().record_intent(intent, broker)
        self._wrote()
        return entry

    def update(self, client_order_id, status, **fields):
        super().update(client_order_id, status, **fields)
        self._wrote()


def test_a_kill_after_any_journal_write_then_reruns_send_no_extra_order(tmp_path):
    clean = KilledJournal(tmp_path / "clean" / "journal.db", fail_at=None)
    executor(seeded(tmp_path / "clean"), clean).run(targets(**TARGETS))
    assert clean.writes >= 12  # intent, submitted and a fill per order
    for fail_at in range(1, clean.writes + 1):
        tmp = tmp_path / f"kill-{fail_at}"
        broker = seeded(tmp)
        with pytest.raises(Killed):
            executor(broker, KilledJournal(tmp / "journal.db", fail_at)).run(targets(**TARGETS))
        journal = OrderJournal(tmp / "journal.db")
        for _ in range(2):
            executor(broker, journal).run(targets(**TARGETS))
        placed = [(s, side) for c, s, side in broker_orders(broker) if c.startswith("alpha")]
        assert len(placed) == len(set(placed)) == 4, f"kill after write {fail_at}"
        assert holdings(broker) == expected(), f"kill after write {fail_at}"
        assert all(e.status == "filled" for e in journal.orders("alpha", DAY))


KILLED_RUN = """
import os, signal, sys
from decimal import Decimal
from pathlib import Path
from tests.quant_engine.oms.conftest import executor, paper_broker, targets
from quant_engine.oms import OrderJournal

tmp, kill_at = Path(sys.argv[1]), int(sys.argv[2])
broker = paper_broker(tmp)
submit, count = broker.submit, [0]
def submit_then_die(request):
    order = submit(request)
    count[0] += 1
    if count[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return order
broker.submit = submit_then_die
executor(broker, OrderJournal(tmp / "journal.db")).run(targets(AAA=200, BBB=100, CCC=50))
"""


@pytest.mark.parametrize("kill_at", [1, 3])
def test_a_real_process_kill_mid_rebalance_then_a_rerun_sends_no_extra_order(tmp_path, kill_at):
    tmp = tmp_path / "account"
    seeded(tmp)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_RUN), str(tmp), str(kill_at)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    broker = paper_broker(tmp)
    journal = OrderJournal(tmp / "journal.db")
    assert len([c for c, *_ in broker_orders(broker) if c.startswith("alpha")]) == kill_at
    executor(broker, journal).run(targets(**TARGETS))
    placed = [(s, side) for c, s, side in broker_orders(broker) if c.startswith("alpha")]
    assert len(placed) == len(set(placed)) == 4
    assert holdings(broker) == expected()


def test_a_timeout_after_the_order_landed_is_resolved_by_client_id(tmp_path, journal):
    broker = seeded(tmp_path)
    faulty = Faulty(broker, fail_at=None)
    submit = faulty.submit

    def lands_then_times_out(request):
        submit(request)
        raise OutcomeUnknown("read timeout")

    faulty.submit = lands_then_times_out
    report = executor(faulty, journal).run(targets(**TARGETS))
    assert report.unresolved == [] and holdings(broker) == expected()
    assert len([c for c, *_ in broker_orders(broker) if c.startswith("alpha")]) == 4
    assert all(e.status == "filled" for e in journal.orders("alpha", DAY))


def test_a_lost_submission_is_resent_under_the_same_id_on_the_next_run(tmp_path, journal):
    broker = seeded(tmp_path)
    faulty = Faulty(broker, fail_at=None)
    alerts = RecordingAlerter()

    def lost(request):
        raise OutcomeUnknown("504 Gateway Timeout")

    faulty.submit = lost
    run = executor(faulty, journal)
    run.alerter = alerts
    report = run.run(targets(AAA=200, DDD=40))
    coid = client_order_id("alpha", DAY, "AAA", "sell", 0)
    assert report.unresolved == [coid] and journal.get(coid).status == "unknown"
    assert alerts.alerts and broker_orders(broker)[-1][0] == "manual-2"
    executor(broker, journal).run(targets(AAA=200, DDD=40))
    assert journal.get(coid).status == "filled"
    assert [c for c, *_ in broker_orders(broker) if c.startswith("alpha")] == [coid]


def test_a_duplicate_id_answer_means_placed_and_is_looked_up(tmp_path, journal):
    """The client retried a 504 itself and the repeat got "client_order_id must be unique"."""
    broker = seeded(tmp_path)
    faulty = Faulty(broker, fail_at=None)
    submit = faulty.submit

    def lands_then_duplicate(request):
        submit(request)
        raise DuplicateClientOrderId("client_order_id must be unique")

    faulty.submit = lands_then_duplicate
    report = executor(faulty, journal).run(targets(**TARGETS))
    assert report.unresolved == [] and holdings(broker) == expected()
    entries = journal.orders("alpha", DAY)
    assert len(entries) == 4 and all(e.status == "filled" for e in entries)
    assert len([c for c, *_ in broker_orders(broker) if c.startswith("alpha")]) == 4


def test_rejections_are_recorded_alerted_and_not_retried(tmp_path, journal):
    broker = seeded(tmp_path)
    gate = RiskGate(
        broker,
        RiskConfig(state_path=str(tmp_path / "risk.json"), blocked_symbols=frozenset({"CCC"})),
    )
    alerts = RecordingAlerter()
    run = executor(gate, journal)
    run.alerter = alerts
    report = run.run(targets(**TARGETS))
    coid = client_order_id("alpha", DAY, "CCC", "buy", 0)
    assert list(report.rejected) == [coid] and "blocked_symbol" in journal.get(coid).reason
    assert alerts.alerts[0][0] == "order rejected"
    again = executor(gate, journal).run(targets(**TARGETS))
    assert again.sent == [] and "not retried" in again.notes["CCC"]
    assert "CCC" not in holdings(broker)


def test_market_closed_queues_without_sending(tmp_path, journal):
    saturday = SessionClockConfig(mode="weekdays")
    broker = paper_broker(tmp_path, clock=saturday)
    broker._session._now = lambda: quotes()["AAA"].as_of.replace(day=21)  # a Saturday
    report = executor(broker, journal).run(targets(**TARGETS))
    assert report.queued and report.sent == [] and journal.all_orders() == []


def test_partial_fills_are_recomputed_from_the_filled_quantity(tmp_path, journal):
    broker = paper_broker(tmp_path, fill_ratio=Decimal("0.5"))
    first = executor(broker, journal).run(targets(BBB=101))
    coid = first.sent[0]
    assert journal.get(coid).status == "partially_filled"
    assert journal.get(coid).filled_quantity == Decimal(50)
    # The open remainder is pending: a rerun sends nothing more for it.
    assert executor(broker, journal).run(targets(BBB=101)).sent == []
    broker.set_quotes(quotes())  # the next prices fill half the rest
    executor(broker, journal).run(targets(BBB=101))
    assert journal.get(coid).filled_quantity == Decimal(75)
    open_order = broker.open_orders()[0]
    broker.cancel(open_order.broker_order_id)
    rerun = executor(broker, journal).run(targets(BBB=101))
    assert journal.get(coid).status == "cancelled"
    new = journal.get(rerun.sent[0])
    assert new.attempt == 1 and new.quantity == Decimal(26)  # 101 - 75 filled


def test_an_opposite_open_order_is_cancelled_first(tmp_path, journal):
    broker = paper_broker(tmp_path, fill_ratio=Decimal("0.5"))
    broker.submit(OrderRequest("manual-buy", "AAA", "buy", Decimal(100)))  # 50 left open
    report = executor(broker, journal).run(targets(AAA=0))
    assert report.cancelled == [broker.order_by_client_id("manual-buy").broker_order_id]
    assert broker.order_by_client_id("manual-buy").status == "cancelled"
    sell = journal.get(report.sent[0])
    assert sell.side == "sell" and sell.quantity == Decimal(50)


def test_market_closed_with_wait_sleeps_until_the_open_then_trades(tmp_path, journal):
    broker = paper_broker(tmp_path, clock=SessionClockConfig(mode="weekdays"))
    now = [quotes()["AAA"].as_of.replace(hour=13)]  # Friday 08:00 New York: before the open
    broker._session._now = lambda: now[0]
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += timedelta(seconds=seconds)

    run = executor(broker, journal, on_market_closed="wait", max_wait_seconds=7200)
    run._sleep = sleep
    report = run.run(targets(BBB=10))
    assert slept[0] == 5400 and not report.queued  # 90 minutes to 09:30
    assert holdings(broker) == {"BBB": Decimal(10)}
    too_long = executor(broker, journal, on_market_closed="wait", max_wait_seconds=60)
    now[0] = now[0].replace(hour=23)  # after the close: Monday's open is days away
    assert too_long.run(targets(BBB=20)).queued


def test_market_closed_with_fail_raises(tmp_path, journal):
    broker = paper_broker(tmp_path, clock=SessionClockConfig(mode="weekdays"))
    broker._session._now = lambda: quotes()["AAA"].as_of.replace(hour=23)
    with pytest.raises(MarketClosed, match="next open"):
        executor(broker, journal, on_market_closed="fail").run(targets(BBB=10))


class BlindLookups(Faulty):
    """Places orders but cannot look any up (the lookup endpoint is down)."""

    def order_by_client_id(self, coid):
        self.calls.append("order_by_client_id")
        raise OutcomeUnknown("lookup timed out")


class AcceptsThenTimesOut(BlindLookups):
    """Every order lands at the broker, yet the answer is lost, and so are the lookups."""

    def submit(self, request):
        self.broker.submit(request)
        raise OutcomeUnknown("504 after accepting")


def test_an_order_whose_fate_cannot_be_looked_up_is_not_sent_again(tmp_path, journal):
    inner = seeded(tmp_path)
    report = executor(AcceptsThenTimesOut(inner, fail_at=None), journal).run(targets(**TARGETS))
    placed = broker_orders(inner)
    ours = sorted(coid for coid, *_ in placed if not coid.startswith("manual"))
    assert report.sent == [] and sorted(report.unresolved) == ours
    # The next run still cannot see those orders: it must not send their intents again.
    again = executor(BlindLookups(inner, fail_at=None), journal).run(targets(**TARGETS))
    assert broker_orders(inner) == placed
    assert set(again.unresolved) >= set(ours)
