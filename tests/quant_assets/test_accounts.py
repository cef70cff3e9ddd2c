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


def test_the_paper_brokers_costs_come_from_the_account(tmp_path, monkeypatch):
    """A paper account fills with the cost model its accounts entry sets (the engine's one
    cost model; its defaults where the entry sets none); a bad value names the field."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from quant_engine.backtest.costs import CostModel
    from quant_engine.brokers.base import OrderRequest
    from quant_engine.brokers.quotes import Quote

    costs = {"paper_commission_bps": 0.0, "paper_half_spread_bps": 50.0, "paper_impact_coef": 0}
    _write(tmp_path, monkeypatch, {"wide": {"kind": "paper", **costs}, "plain": {}})
    database = str(tmp_path / "paper.db")
    wide = BrokerResource(**load_accounts()["wide"], database=database).broker()
    assert wide.config.costs == CostModel(0.0, 50.0, 0.0)
    plain = BrokerResource(**load_accounts()["plain"], database=database).broker()
    assert plain.config.costs == CostModel()
    now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    wide.set_quotes({"A": Quote(Decimal(100), now, sigma=0.02, adv=1e8)})
    order = wide.submit(OrderRequest("w-1", "A", "buy", Decimal(10)))
    assert order.average_fill_price == Decimal("100.5")  # half of a 100 bps spread
    _write(tmp_path, monkeypatch, {"bad": {"kind": "paper", "paper_impact_coef": 50}})
    with pytest.raises(AccountsError, match="account bad: paper_impact_coef must be"):
        load_accounts()
