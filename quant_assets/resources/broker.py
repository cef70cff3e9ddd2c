"""The broker account the daily rebalance trades: paper (default), Alpaca or a ccxt exchange.

Every order goes through the risk gate and the order journal. API keys are read from the
environment variables named here, at the moment a broker is opened, and nowhere else: they
are not configuration, so they never reach Dagster's run config, logs or metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

import dagster as dg

from quant_assets.profile import DeploymentProfile
from quant_engine.brokers.base import Broker
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig
from quant_engine.brokers.quotes import Quote
from quant_engine.brokers.session_clock import SessionClockConfig
from quant_engine.oms import (
    ExecutorConfig,
    LogAlerter,
    OrderJournal,
    RebalanceExecutor,
    SymbolRules,
    WebhookAlerter,
)
from quant_engine.paths import QuantHome
from quant_engine.risk import RiskConfig, RiskGate


@dataclass
class LiveSession:
    """An opened account: the raw broker, the gate in front of it, the journal, the executor."""

    label: str
    broker: Broker
    gate: RiskGate
    journal: OrderJournal
    executor: RebalanceExecutor
    rules: dict[str, SymbolRules]


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class BrokerResource(dg.ConfigurableResource):
    """Which account to trade and under which limits. Dry-run and paper unless configured.

    ``dry_run`` computes the order list without sending anything. ``alpaca_live`` and
    ``ccxt_live`` must be set explicitly to reach real-money endpoints.
    """

    kind: Literal["paper", "alpaca", "ccxt"] = "paper"
    dry_run: bool = True
    strategy: str = "daily"
    database: str = ""  # journal (and paper account) database URL; default SQLite in QUANT_HOME
    state_dir: str = ""  # risk state directory; default QUANT_HOME/live
    # paper
    paper_account: str = "paper"
    paper_initial_cash: float = 1_000_000.0
    paper_clock: Literal["always", "weekdays"] = "always"
    # alpaca (keys from the environment only)
    alpaca_live: bool = False
    alpaca_url_override: str = ""
    alpaca_key_env: str = "APCA_API_KEY_ID"
    alpaca_secret_env: str = "APCA_API_SECRET_KEY"
    # ccxt (keys from the environment only)
    ccxt_exchange: str = "binance"
    ccxt_live: bool = False
    ccxt_api_url: str = ""
    ccxt_quote_currency: str = "USDT"
    ccxt_key_env: str = "CCXT_API_KEY"
    ccxt_secret_env: str = "CCXT_SECRET"
    # order management
    on_market_closed: Literal["wait", "queue", "fail"] = "queue"
    fill_timeout_seconds: float = 30.0
    lot_size: float = 1.0  # default lot for symbols without exchange rules (whole shares)
    alert_webhook_url: str = ""
    # risk gate
    max_order_value: float | None = None
    max_order_quantity: float | None = None
    max_position_value: float | None = None
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
        if self.kind == "paper":
            return f"paper-{self.paper_account}"
        if self.kind == "alpaca":
            return "alpaca-live" if self.alpaca_live else "alpaca-paper"
        return f"{self.ccxt_exchange}-{'live' if self.ccxt_live else 'test'}"

    def _home(self) -> Path:
        return QuantHome.resolve().root / "live"

    def database_url(self) -> str:
        """The journal's database: configured, else the deployment profile's."""
        return self.database or DeploymentProfile.from_env().journal_url

    def open(self, quotes: dict[str, Quote] | None) -> LiveSession:
        """Open the account; ``quotes`` are the latest prices (the paper broker fills on them)."""
        quotes = quotes or {}
        broker = self.broker(symbols=tuple(quotes))
        if isinstance(broker, PaperBroker) and quotes and not self.dry_run:
            broker.set_quotes(quotes)
        state_dir = Path(self.state_dir) if self.state_dir else self._home()
        gate = RiskGate(broker, self._risk_config(state_dir))
        gate.update_quotes(quotes)
        journal = OrderJournal(self.database_url())
        rules = self._rules(broker, list(quotes))
        alerter = WebhookAlerter(self.alert_webhook_url) if self.alert_webhook_url else LogAlerter()
        executor = RebalanceExecutor(
            gate,
            journal,
            ExecutorConfig(
                strategy=self.strategy,
                on_market_closed=self.on_market_closed,
                fill_timeout_seconds=self.fill_timeout_seconds,
            ),
            rules=rules,
            alerter=alerter,
        )
        return LiveSession(self.label, broker, gate, journal, executor, rules)

    def _risk_config(self, state_dir: Path) -> RiskConfig:
        return RiskConfig(
            state_path=str(state_dir / f"risk-{self.label}.json"),
            max_order_value=_decimal(self.max_order_value),
            max_order_quantity=_decimal(self.max_order_quantity),
            max_position_value=_decimal(self.max_position_value),
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
                    clock=SessionClockConfig(mode=self.paper_clock),
                )
            )
        if self.kind == "alpaca":
            from quant_engine.brokers.alpaca import AlpacaBroker, AlpacaConfig

            key, secret = self._keys(self.alpaca_key_env, self.alpaca_secret_env)
            config = AlpacaConfig(
                live=self.alpaca_live, url_override=self.alpaca_url_override or None
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

    def _rules(self, broker: Broker, symbols: list[str]) -> dict[str, SymbolRules]:
        """Lot and minimum notional per symbol: the exchange's where it has them."""
        default = SymbolRules(lot_size=Decimal(str(self.lot_size)))
        lot_rules = getattr(broker, "rules", None)
        if lot_rules is None:
            return dict.fromkeys(symbols, default)
        rules = {}
        for symbol in symbols:
            market = lot_rules(symbol)
            rules[symbol] = SymbolRules(
                lot_size=market.quantity_step or default.lot_size,
                min_notional=market.min_notional or Decimal(0),
            )
        return rules
