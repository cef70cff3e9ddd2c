"""Faults met by the Dagster rebalance of an Alpaca account (the real alpaca-py client against
the loopback stand-in): no intent is sent twice, none is lost, the counts are right, and every
bad outcome is a failed run whose alert reaches a loopback webhook."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

import dagster as dg
import pytest

from quant_assets.defs.live.sensors import rebalance_failure_alert
from quant_assets.resources.broker import BrokerResource
from quant_engine.oms import OrderJournal
from tests.quant_assets.test_live import ALPACA_KEY, ALPACA_SECRET, CLOSES, run_live
from tests.stand_ins import alpaca_trading
from tests.stand_ins.alpaca_trading import DUPLICATE, AlpacaTradingStandIn
from tests.stand_ins.trading_server import Fault, LoopbackServer


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    _Hook.received.clear()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", _Hook.received
    server.shutdown()
    thread.join()


FAULTS = {
    # name: (faults on the first order, market open, whether the run succeeds)
    "504-after-accept": ([alpaca_trading.gateway_timeout(after_accept=True), Fault()], True, True),
    "connection-dropped-after-accept": (
        [Fault(after_accept=True, drop=True)],
        True,
        True,
    ),
    "429-past-retries": ([alpaca_trading.rate_limited() for _ in range(4)], True, False),
    "422-duplicate-with-order": (
        [Fault(status=422, payload=DUPLICATE, after_accept=True)],
        True,
        True,
    ),
    "422-duplicate-without-order": ([Fault(status=422, payload=DUPLICATE)], True, False),
    "market-closed": ([], False, False),
    "holiday": ([], False, False),  # Thanksgiving: the clock says closed until the next day
    "partial-fill": ([], True, True),  # half of AAPL fills; the rest keeps working
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_is_counted_and_every_bad_outcome_alerts(
    name, quant_home, tmp_path, monkeypatch, webhook
):
    faults, market_open, succeeds = FAULTS[name]
    url, received = webhook
    monkeypatch.setenv("APCA_API_KEY_ID", ALPACA_KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", ALPACA_SECRET)
    account = AlpacaTradingStandIn(
        ALPACA_KEY,
        ALPACA_SECRET,
        prices={s: Decimal(str(p)) for s, p in CLOSES.items()},
        cash=Decimal(100_000),
        market_open=market_open,
        partial_fill={"AAPL": Decimal("0.5")} if name == "partial-fill" else {},
    )
    if name == "holiday":
        account.now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 10:00 New York, closed
    with LoopbackServer(account) as server:
        server.inject(alpaca_trading.ORDERS, *faults)
        broker = BrokerResource(
            kind="alpaca",
            dry_run=False,
            alpaca_url_override=server.url,
            order_timing="when_open",
            fill_timeout_seconds=0.5,
            alert_webhook_url=url,
        )
        instance = dg.DagsterInstance.ephemeral()
        result = run_live(tmp_path / "assets", broker, instance, raise_on_error=False)
        assert result.success is succeeds
        journal = OrderJournal(broker.database_url()).all_orders()
        for entry in journal:  # no intent twice
            assert len(account.orders_with_client_id(entry.client_order_id)) <= 1
        placed = {o.client_order_id for o in account.orders}
        [event] = result.asset_materializations_for_node("rebalance")
        meta = {k: v.value for k, v in event.metadata.items()}
        unresolved = {e.client_order_id for e in journal if e.status == "unknown"}
        # none lost: every intent is at the broker or waits, unresolved, for its look-up
        assert {e.client_order_id for e in journal} == placed | unresolved
        assert meta["n_sent"] == len(placed) and meta["n_unresolved"] == len(unresolved)
        if name.startswith("504") or name == "422-duplicate-with-order":
            assert meta["n_duplicates"] == 1
        if name.startswith("connection"):  # no answer: looked up by client order id, found
            assert len(placed) == 2 and meta["n_unresolved"] == 0 and meta["n_duplicates"] == 0
            assert server.requests_on("GET /v2/orders:by_client_order_id")
        if not succeeds:
            context = dg.build_run_status_sensor_context(
                sensor_name="rebalance_failure_alert",
                dagster_instance=instance,
                dagster_run=instance.get_run_by_id(result.run_id),
                dagster_event=result.get_run_failure_event(),
            ).for_run_failure()
            rebalance_failure_alert(context, broker=broker)
            [alert] = [a for a in received if a["subject"] == "rebalance failed"]
            assert alert["subject"] == "rebalance failed" and result.run_id in alert["detail"]
        elif name == "partial-fill":
            [check] = [e for e in result.asset_materializations_for_node("reconciliation")]
            done = {k: v.value for k, v in check.metadata.items()}
            assert meta["n_filled"] == 1 and done["n_waiting"] == 1 and received == []
            [aapl] = [e for e in journal if e.symbol == "AAPL"]
            final = OrderJournal(broker.database_url()).get(aapl.client_order_id)
            assert final.status == "partially_filled" and final.filled_quantity > 0
        else:
            assert meta["n_filled"] == 2 and received == []
    if name in ("market-closed", "holiday"):
        assert meta["queued_market_closed"] is True and meta["n_sent"] == 0
