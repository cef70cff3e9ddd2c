"""``quant live``: status, halt, resume, retry, init and flatten of a configured account, and a
risk state that fails closed when deleted after a trade (nothing sent, the reason said)."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import polars as pl
import pytest
import yaml

from quant_assets.accounts import load_accounts
from quant_assets.cli import main
from quant_assets.defs.live.operator import live_control_job
from quant_assets.resources.broker import BrokerResource
from tests.quant_assets.test_live import DAYS, metadata, paper_order_count, run_live


@pytest.fixture
def account(quant_home, tmp_path, monkeypatch) -> BrokerResource:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        yaml.safe_dump(
            {"accounts": {"acct": {"kind": "paper", "dry_run": False, "paper_initial_cash": 1e5}}}
        )
    )
    monkeypatch.setenv("QUANT_ACCOUNTS", str(path))
    return BrokerResource(**load_accounts()["acct"])


def quant_live(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["live", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def status(capsys) -> dict:
    code, out = quant_live(capsys, "status", "--account", "acct")
    assert code == 0
    [row] = json.loads(out)
    return row


def test_halt_blocks_new_positions_resume_and_retry_let_them_through(account, tmp_path, capsys):
    assert run_live(tmp_path / "assets", account).success
    assert status(capsys)["kill_switch"] is False

    code, out = quant_live(capsys, "halt", "--account", "acct", "--reason", "desk review")
    assert code == 0 and "tripped" in out
    row = status(capsys)
    assert row["kill_switch"] is True and "desk review" in row["kill_reason"]

    halted = run_live(tmp_path / "assets", account, days=4, flipped=True, raise_on_error=False)
    assert not halted.success  # the buys were refused: a failed run, not a green one
    checks = halted.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [False]
    assert "kill switch" in checks[0].description

    code, _ = quant_live(capsys, "resume", "--account", "acct", "--reason", "reviewed")
    assert code == 0 and status(capsys)["kill_switch"] is False
    still = run_live(tmp_path / "assets", account, days=4, flipped=True, raise_on_error=False)
    assert not still.success  # the rejected intents are not retried on their own
    day = (DAYS[0].date() + timedelta(days=3)).isoformat()
    code, out = quant_live(
        capsys, "retry", "--account", "acct", "--day", day, "--reason", "after reset"
    )
    assert code == 0 and "2 rejected intent(s)" in out
    retried = run_live(tmp_path / "assets", account, days=4, flipped=True)
    assert retried.success and metadata(retried, "rebalance")["n_sent"] == 2
    held = retried.output_for_node("reconciliation").filter(pl.col("position_quantity") != 0)
    assert held["symbol"].to_list() == ["SPY", "XOM"]
    assert any("reset: by" in e for e in status(capsys)["events"])


def test_flatten_closes_every_position_through_the_gate(account, tmp_path, capsys):
    assert run_live(tmp_path / "assets", account).success
    before = paper_order_count(account)
    code, out = quant_live(capsys, "flatten", "--account", "acct", "--reason", "end of strategy")
    assert code == 0, out
    result = json.loads(out)
    assert sorted(result["planned"])[0].startswith("sell") and len(result["sent"]) == 2
    assert account.open(None).gate.positions() == {}
    assert paper_order_count(account) == before + 2


def test_a_deleted_risk_state_stops_the_account_until_an_operator_initialises_it(
    account, tmp_path, capsys
):
    assert run_live(tmp_path / "assets", account).success
    account.state_path().unlink()
    before = paper_order_count(account)
    refused = run_live(tmp_path / "assets", account, days=4, flipped=True, raise_on_error=False)
    assert not refused.success and paper_order_count(account) == before  # nothing sent
    failure = refused.get_step_failure_events()[0].event_specific_data.error.message
    assert "risk state" in failure and "missing" in failure and "quant live init" in failure
    code, out = quant_live(capsys, "status", "--account", "acct")
    assert json.loads(out)[0]["state"] == "unusable"

    code, out = quant_live(capsys, "init", "--account", "acct", "--reason", "state dir moved")
    assert code == 0 and "initialised" in out
    assert "initialised by" in status(capsys)["events"][0]
    traded = run_live(tmp_path / "assets", account, days=4, flipped=True)
    assert traded.success and metadata(traded, "rebalance")["n_sent"] == 4
    code, out = quant_live(capsys, "init", "--account", "acct", "--reason", "again")
    assert code == 1 and "exists" in out


def test_the_same_controls_as_a_dagster_job(account, tmp_path):
    assert run_live(tmp_path / "assets", account).success
    config = {"account": "acct", "action": "halt", "reason": "from the UI", "by": "ops"}
    result = live_control_job.execute_in_process(
        run_config={"ops": {"live_control": {"config": config}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    from quant_assets import live_control

    [row] = live_control.status("acct")
    assert row["kill_switch"] is True and "halted by ops: from the UI" in row["kill_reason"]
    no_reason = live_control_job.execute_in_process(
        run_config={"ops": {"live_control": {"config": {**config, "reason": ""}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not no_reason.success
