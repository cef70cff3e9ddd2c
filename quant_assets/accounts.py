"""The broker accounts the daily rebalance trades: deployment configuration, not code.

A YAML file (``$QUANT_ACCOUNTS``, else ``QUANT_HOME/accounts.yaml``) lists accounts by name, each
with the fields of :class:`~quant_assets.resources.broker.BrokerResource` (kind, dry_run, risk
limits, key variable names, URL override, ...)::

    accounts:
      alpaca:
        kind: alpaca
        dry_run: false
        max_order_value: 50000
      binance:
        kind: ccxt
        ccxt_exchange: binance
        dry_run: false

Without the file there is one account, ``paper``: the embedded paper broker in dry-run. Keys
are never in the file, only the names of the environment variables holding them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pydantic
import yaml

from quant_engine.paths import QuantHome

ACCOUNTS_ENV = "QUANT_ACCOUNTS"
DEFAULT_ACCOUNT = "paper"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,23}$")  # also the journal's strategy key


class AccountsError(ValueError):
    """The accounts file cannot be used: names the file, the account and the field."""


def accounts_path() -> Path:
    """Where the accounts file is looked for."""
    chosen = os.environ.get(ACCOUNTS_ENV)
    return Path(chosen) if chosen else QuantHome.resolve().root / "accounts.yaml"


def load_accounts(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Account name -> its BrokerResource fields (validated), in the file's order.

    A missing file (at the default place) gives the default paper account; a file named by
    ``$QUANT_ACCOUNTS`` must exist.
    """
    from quant_assets.resources.broker import BrokerResource

    explicit = path is not None or ACCOUNTS_ENV in os.environ
    path = path or accounts_path()
    if not path.is_file():
        if explicit:
            raise AccountsError(f"accounts file {path} not found (named by ${ACCOUNTS_ENV})")
        return {DEFAULT_ACCOUNT: {"account": DEFAULT_ACCOUNT}}
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise AccountsError(f"accounts file {path} is not valid YAML: {error}") from None
    accounts = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(accounts, dict) or not accounts:
        raise AccountsError(f"accounts file {path}: expected a mapping 'accounts: {{name: ...}}'")
    out: dict[str, dict[str, Any]] = {}
    for name, fields in accounts.items():
        name = str(name)
        if not _NAME.match(name):
            raise AccountsError(
                f"accounts file {path}: account name {name!r} must be 1 to 24 characters of "
                "a-z, 0-9, '_' or '-'"
            )
        fields = dict(fields or {})
        if "account" in fields:
            raise AccountsError(f"accounts file {path}: account {name}: 'account' is its name")
        if "live" in fields:  # the account's switch to real money, in the kind's own field
            kind = fields.get("kind", "paper")
            if kind == "paper":
                raise AccountsError(f"accounts file {path}: account {name}: paper is never live")
            fields[f"{kind}_live"] = fields.pop("live")
        fields = {"account": name, "strategy": name, **fields}
        try:
            resource = BrokerResource(**fields)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}={e.get('input')!r}: {e['msg']}"
                for e in error.errors()
            )
            raise AccountsError(f"accounts file {path}: account {name}: {problems}") from None
        try:
            resource.paper_costs()
        except ValueError as error:  # the paper broker's cost model
            raise AccountsError(f"accounts file {path}: account {name}: {error}") from None
        out[name] = fields
    return out


def account_config(name: str) -> dict[str, Any]:
    """The fields of account ``name``; an error naming the file where it has none."""
    accounts = load_accounts()
    if name not in accounts:
        raise AccountsError(
            f"no account {name!r} in {accounts_path()} (accounts: {', '.join(accounts)})"
        )
    return accounts[name]
