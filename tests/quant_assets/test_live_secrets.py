"""API keys never leave the process: against a loopback server that echoes the request headers
(the keys among them) into its 401 and 500 bodies, a failed rebalance leaves 0 hits for the keys
in the Dagster event log and stored files, the journal, QUANT_HOME, stdout/stderr and the process
list."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from quant_assets.resources.broker import BrokerResource
from quant_engine.oms import OrderJournal
from tests.quant_assets.test_live import CLOSES, run_live
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.trading_server import LoopbackServer, Reply, Request

KEY = "PKECHOKEY0000000000077"
SECRET = "echo-secret-key-0a1b2c3d4e5f77"


@dataclass
class EchoingAlpaca(AlpacaTradingStandIn):
    """The Alpaca stand-in, except that ``echo_on`` routes answer ``status`` with the request's
    headers in the body, as a misconfigured gateway or a verbose API might."""

    echo_on: str = "GET /v2/account"
    status: int = 401

    def handle(self, request: Request) -> Reply:
        if request.route == self.echo_on:
            return Reply(self.status, {"message": f"denied; request headers: {request.headers}"})
        return super().handle(request)


@pytest.mark.parametrize(("route", "status"), [("GET /v2/account", 401), ("POST /v2/orders", 500)])
def test_echoed_keys_reach_no_log_store_or_process_list(
    route, status, quant_home, tmp_path, monkeypatch, caplog, capfd
):
    monkeypatch.setenv("APCA_API_KEY_ID", KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    account = EchoingAlpaca(
        KEY,
        SECRET,
        prices={s: Decimal(str(p)) for s, p in CLOSES.items()},
        echo_on=route,
        status=status,
    )
    with (
        LoopbackServer(account) as server,
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
    ):
        broker = BrokerResource(
            kind="alpaca",
            dry_run=False,
            alpaca_url_override=server.url,
            order_timing="when_open",
            fill_timeout_seconds=0.2,
        )
        with caplog.at_level(logging.DEBUG):
            result = run_live(tmp_path / "assets", broker, instance, raise_on_error=False)
        assert not result.success
        echoed = [r for r in server.requests if r.route == route]
        assert echoed  # the echoing route was met: its body held the keys
        processes = subprocess.run(
            ["ps", "-eo", "args"], capture_output=True, text=True, check=True
        ).stdout
        haystacks = [caplog.text, *capfd.readouterr(), processes]
        haystacks += [str(record) for record in instance.all_logs(result.run_id)]
        haystacks += [repr(e) for e in OrderJournal(broker.database_url()).all_orders()]
        for root in (Path(quant_home), tmp_path):
            haystacks += [p.read_bytes().decode("latin-1") for p in root.rglob("*") if p.is_file()]
        assert any("HTTP " + str(status) in h for h in haystacks)  # the failure was recorded
        for secret in (KEY, SECRET):
            assert not [h[:120] for h in haystacks if secret in h], secret
