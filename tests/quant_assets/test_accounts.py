"""The accounts file: validated with errors naming file, account and value; going live takes
the account's ``live: true`` and ``QUANT_LIVE_TRADING=yes``."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from quant_assets.accounts import AccountsError, load_accounts
from quant_assets.resources.broker import BrokerResource


def _write(tmp_path, monkeypatch, accounts) -> str:
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump({"accounts": accounts}))
    monkeypatch.setenv("QUANT_ACCOUNTS", str(path))
    return str(path)


def test_without_a_file_the_paper_account_in_dry_run(quant_home, monkeypatch):
    monkeypatch.delenv("QUANT_ACCOUNTS", raising=False)
    [(name, fields)] = load_accounts().items()
    resource = BrokerResource(**fields)
    assert name == "paper" and resource.kind == "paper" and resource.dry_run is True


def test_a_bad_field_names_the_file_the_account_and_the_value(tmp_path, monkeypatch):
    path = _write(tmp_path, monkeypatch, {"alpaca": {"kind": "alpaca", "max_order_value": "x"}})
    with pytest.raises(AccountsError) as error:
        load_accounts()
    assert path in str(error.value) and "alpaca" in str(error.value) and "'x'" in str(error.value)
    _write(tmp_path, monkeypatch, {"Bad Name": {"kind": "paper"}})
    with pytest.raises(AccountsError, match="account name 'Bad Name'"):
        load_accounts()


def test_going_live_takes_the_account_and_the_environment(tmp_path, monkeypatch):
    _write(tmp_path, monkeypatch, {"real": {"kind": "alpaca", "live": True, "dry_run": False}})
    resource = BrokerResource(**load_accounts()["real"])
    assert resource.alpaca_live and resource.is_live and "LIVE" in resource.endpoint()
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    monkeypatch.delenv("QUANT_LIVE_TRADING", raising=False)
    with pytest.raises(dg.Failure, match="QUANT_LIVE_TRADING=yes"):
        resource.broker()
    monkeypatch.setenv("QUANT_LIVE_TRADING", "yes")
    assert resource.broker().name == "alpaca-live"  # built; nothing is sent by building it
    _write(tmp_path, monkeypatch, {"p": {"kind": "paper", "live": True}})
    with pytest.raises(AccountsError, match="paper is never live"):
        load_accounts()
