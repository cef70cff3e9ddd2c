"""The broker account the daily rebalance trades: paper (default), Alpaca or a ccxt exchange.

Every order goes through the risk gate and the order journal. API keys are read from the
environment variables named here, at the moment a broker is opened, and nowhere else: they
are not configuration, so they never reach Dagster's run config, logs or metadata. Accounts are
named in the accounts file (:mod:`quant_assets.accounts`); a real-money endpoint needs the
account's ``live: true`` and ``QUANT_LIVE_TRADING=yes`` in the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import dagster as dg

from quant_assets.profile import DeploymentProfile
from quant_engine.backtest.costs import CostModel
from quant_engine.brokers.base import Broker
from quant_engine.brokers.lots import LotRules
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.brokers.quotes import Quote
from quant_engine.brokers.session_clock import SessionClockConfig
from quant_engine.oms import (
    ExecutorConfig,
    LogAlerter,
    OrderJournal,
    RebalanceExecutor,
    WebhookAlerter,
)
from quant_engine.paths import QuantHome
from quant_engine.risk import RiskConfig, RiskGate

LIVE_SWITCH = "QUANT_LIVE_TRADING"  # must be "yes" for any real-money endpoint
_COSTS = CostModel()  # the engine's one cost model: the backtest's defaults


@dataclass
class LiveSession:
    """An opened account: the raw broker, the gate in front of it, the journal, the executor."""

    label: str
    endpoint: str
    broker: Broker
    gate: RiskGate
    journal: OrderJournal
    executor: RebalanceExecutor
    rules: dict[str, LotRules]


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class BrokerResource(dg.ConfigurableResource):
    """Which account to trade and under which limits. Dry-run and paper unless configured.

    ``dry_run`` computes the order list without sending anything. ``alpaca_live`` and
    ``ccxt_live`` must be set explicitly to reach real-money endpoints.
    """

    account: str = ""  # its name in the accounts file; "" is the one this config describes
    kind: Literal["paper", "alpaca", "ccxt"] = "paper"
    dry_run: bool = True
    strategy: str = "daily"  # the journal's key (accounts from the file: their name)
    universe: list[str] | None = None  # the target symbols this account trades (None: all)
    database: str = ""  # journal (and paper account) database URL; default SQLite in QUANT_HOME
    state_dir: str = ""  # risk state directory; default QUANT_HOME/live
    # paper
    paper_account: str = "paper"
    paper_initial_cash: float = 1_000_000.0
    paper_clock: Literal["always", "weekdays", "exchange"] = "always"
    paper_calendar: str = "XNYS"  # paper_clock "exchange": holidays and early closes
    # the paper broker's fills: the engine's cost model (the backtest's), with its defaults
    paper_commission_bps: float = _COSTS.commission_bps
    paper_half_spread_bps: float = _COSTS.half_spread_bps
    paper_impact_coef: float = _COSTS.impact_coef
    paper_impact_model: Literal["square_root", "linear"] = _COSTS.impact_model
    # alpaca (keys from the environment only)
    alpaca_live: bool = False
    alpaca_url_override: str = ""
    alpaca_timeout_seconds: float = 10.0  # per HTTP request
    alpaca_key_env: str = "APCA_API_KEY_ID"
    alpaca_secret_env: str = "APCA_API_SECRET_KEY"
    # ccxt (keys from the environment only)
    ccxt_exchange: str = "binance"
    ccxt_live: bool = False
    ccxt_api_url: str = ""
    ccxt_quote_currency: str = "USDT"
    ccxt_key_env: str = "CCXT_API_KEY"
    ccxt_secret_env: str = "CCXT_SECRET"
    ccxt_options: dict[str, Any] | None = None  # exchange options passed to ccxt
    # order management. order_timing "default": what the backtest assumes, the next open:
    # market-on-open orders for Alpaca, orders while the clock says open for the others.
    order_timing: Literal["default", "when_open", "market_on_open"] = "default"
    on_market_closed: Literal["wait", "queue", "fail"] = "queue"
    max_wait_seconds: float = 2700.0  # longest wait for the open or the OPG window
    fill_timeout_seconds: float = 30.0
    lot_size: float = 1.0  # default lot for symbols without exchange rules (whole shares)
    alert_webhook_url: str = ""
    # risk gate
    max_order_value: float | None = None
    max_order_quantity: float | None = None
    max_position_value: float | None = None
    max_position_quantity: float | None = None
    position_quantity_limits: dict[str, float] | None = None  # symbol -> most shares held
    max_gross_exposure: float | None = None
    max_positions: int | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: float | None = None
    max_drawdown_pct: float | None = None
    max_price_deviation_pct: float | None = None
    max_price_age_seconds: float | None = None
    allowed_symbols: list[str] | None = None
    blocked_symbols: list[str] | None = None
    reduce_only: bool = False
    shadow_mode: bool = False

    @property
    def label(self) -> str:
        """The account's name in run keys, pools and file names."""
        if self.account:
            return self.account
        if self.kind == "paper":
            return f"paper-{self.paper_account}"
        if self.kind == "alpaca":
            return "alpaca-live" if self.alpaca_live else "alpaca-paper"
        return f"{self.ccxt_exchange}-{'live' if self.ccxt_live else 'test'}"

    @property
    def timing(self) -> Literal["when_open", "market_on_open"]:
        if self.order_timing != "default":
            return self.order_timing
        return "market_on_open" if self.kind == "alpaca" else "when_open"

    @property
    def is_live(self) -> bool:
        return (self.kind == "alpaca" and self.alpaca_live) or (
            self.kind == "ccxt" and self.ccxt_live
        )

    def paper_costs(self) -> CostModel:
        """The cost model the paper broker fills with (``ValueError`` names a bad field)."""
        try:
            return CostModel(
                self.paper_commission_bps,
                self.paper_half_spread_bps,
                self.paper_impact_coef,
                self.paper_impact_model,
            )
        except ValueError as error:  # CostModel names its field: say the resource's
            raise ValueError(f"paper_{error}") from None

    def for_account(self, name: str) -> BrokerResource:
        """The resource of account ``name``: this one where it is that account, else the
        accounts file's entry."""
        if name == self.label:
            return self
        from quant_assets.accounts import AccountsError, account_config

        try:
            return BrokerResource(**account_config(name))
        except AccountsError as error:
            raise dg.Failure(str(error)) from None

    def state_path(self) -> Path:
        """The risk gate's state file of this account."""
        state_dir = Path(self.state_dir) if self.state_dir else self._home()
        return state_dir / f"risk-{self.label}.json"

    def has_traded(self) -> bool:
        """Whether the journal holds orders of this account (its risk state must exist)."""
        return OrderJournal(self.database_url()).has_orders(self.strategy)

    def _home(self) -> Path:
        return QuantHome.resolve().root / "live"

    def database_url(self) -> str:
        """The journal's database: configured, else the deployment profile's."""
        return self.database or DeploymentProfile.from_env().journal_url

    def open(self, quotes: dict[str, Quote] | None) -> LiveSession:
        """Open the account; ``quotes`` are the latest prices (the paper broker fills on them)."""
        quotes = quotes or {}
        if self.timing == "market_on_open" and self.kind != "alpaca":
            raise dg.Failure(
                f"account {self.label}: market-on-open orders need an Alpaca account "
                f"({self.kind} has no opening auction); use order_timing when_open"
            )
        broker = self.broker(symbols=tuple(quotes))
        if isinstance(broker, PaperBroker) and quotes and not self.dry_run:
            broker.set_quotes(quotes)
        gate = RiskGate(broker, self._risk_config())
        gate.update_quotes(quotes)
        journal = OrderJournal(self.database_url())
        rules = self._rules(broker, list(quotes))
        alerter = WebhookAlerter(self.alert_webhook_url) if self.alert_webhook_url else LogAlerter()
        executor = RebalanceExecutor(
            gate,
            journal,
            ExecutorConfig(
                strategy=self.strategy,
                timing=self.timing,
                on_market_closed=self.on_market_closed,
                max_wait_seconds=self.max_wait_seconds,
                fill_timeout_seconds=self.fill_timeout_seconds,
            ),
            rules=rules,
            alerter=alerter,
        )
        return LiveSession(self.label, self.endpoint(), broker, gate, journal, executor, rules)

    def endpoint(self) -> str:
        """Where orders go, for the run's log (no secret in it)."""
        if self.kind == "paper":
            return f"paper account {self.paper_account} (embedded)"
        if self.kind == "alpaca":
            default = (
                "https://api.alpaca.markets"
                if self.alpaca_live
                else ("https://paper-api.alpaca.markets")
            )
            mode = "LIVE" if self.alpaca_live else "paper"
            return f"alpaca {mode} {self.alpaca_url_override or default}"
        return (
            f"ccxt {self.ccxt_exchange} {'LIVE' if self.ccxt_live else 'testnet'} "
            f"{self.ccxt_api_url or '(exchange default URL)'}"
        )

    def _risk_config(self) -> RiskConfig:
        return RiskConfig(
            state_path=str(self.state_path()),
            require_state=self.has_traded(),
            max_order_value=_decimal(self.max_order_value),
            max_order_quantity=_decimal(self.max_order_quantity),
            max_position_value=_decimal(self.max_position_value),
            max_position_quantity=_decimal(self.max_position_quantity),
            position_quantity_limits={
                s: Decimal(str(q)) for s, q in (self.position_quantity_limits or {}).items()
            },
            max_gross_exposure=_decimal(self.max_gross_exposure),
            max_positions=self.max_positions,
            max_orders_per_minute=self.max_orders_per_minute,
            max_daily_loss=_decimal(self.max_daily_loss),
            max_drawdown_pct=_decimal(self.max_drawdown_pct),
            max_price_deviation_pct=_decimal(self.max_price_deviation_pct),
            max_price_age_seconds=self.max_price_age_seconds,
            allowed_symbols=None
            if self.allowed_symbols is None
            else frozenset(self.allowed_symbols),
            blocked_symbols=frozenset(self.blocked_symbols or ()),
            reduce_only=self.reduce_only,
            shadow_mode=self.shadow_mode,
        )

    def broker(self, symbols: tuple[str, ...] = ()) -> Broker:
        """The raw account (no risk gate); ``symbols`` are the ones a ccxt exchange looks up
        orders in after a restart."""
        if self.kind == "paper":
            return PaperBroker(
                PaperBrokerConfig(
                    database=self.database_url(),
                    account=self.paper_account,
                    initial_cash=Decimal(str(self.paper_initial_cash)),
                    costs=self.paper_costs(),
                    clock=SessionClockConfig(mode=self.paper_clock, calendar=self.paper_calendar),
                )
            )
        if self.is_live and os.environ.get(LIVE_SWITCH) != "yes":
            raise dg.Failure(
                f"account {self.label} is configured live, but {LIVE_SWITCH}=yes is not set in "
                "the environment: real-money trading takes both"
            )
        if self.kind == "alpaca":
            from quant_engine.brokers.alpaca import AlpacaBroker, AlpacaConfig

            key, secret = self._keys(self.alpaca_key_env, self.alpaca_secret_env)
            config = AlpacaConfig(
                live=self.alpaca_live,
                url_override=self.alpaca_url_override or None,
                timeout_seconds=self.alpaca_timeout_seconds,
            )
            return AlpacaBroker(config, api_key=key, secret_key=secret)
        from quant_engine.brokers.ccxt import CcxtBroker, CcxtConfig, make_exchange

        key, secret = self._keys(self.ccxt_key_env, self.ccxt_secret_env)
        config = CcxtConfig(
            exchange_id=self.ccxt_exchange,
            live=self.ccxt_live,
            api_url=self.ccxt_api_url or None,
            quote_currency=self.ccxt_quote_currency,
            symbols=symbols,
            options=dict(self.ccxt_options or {}),
        )
        return CcxtBroker(make_exchange(config, key, secret), config)

    def _keys(self, key_env: str, secret_env: str) -> tuple[str, str]:
        key, secret = os.environ.get(key_env, ""), os.environ.get(secret_env, "")
        if not key or not secret:
            raise dg.Failure(
                f"{self.kind} needs its API key and secret in the environment variables "
                f"{key_env} and {secret_env}"
            )
        return key, secret

    def _rules(self, broker: Broker, symbols: list[str]) -> dict[str, LotRules]:
        """Quantity step and minimum notional per symbol: the exchange's where it has them,
        else ``lot_size`` shares."""
        default = Decimal(str(self.lot_size))
        lot_rules = getattr(broker, "rules", None)
        if lot_rules is None:
            return {s: LotRules(s, quantity_step=default) for s in symbols}
        rules = {}
        for symbol in symbols:
            market = lot_rules(symbol)
            rules[symbol] = replace(market, quantity_step=market.quantity_step or default)
        return rules
