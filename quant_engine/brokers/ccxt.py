"""A spot account on any ccxt exchange behind the broker protocol.

Symbols are ccxt's unified ones (``"BTC/USDT"``); cash is the configured quote currency and
every other balance with a market against it is a position. Orders carry our client order id
through ccxt's ``clientOrderId`` parameter. Because exchanges such as binance keep client ids
unique only among *open* orders (a filled order's id can be used again), :meth:`submit` first
looks the id up and refuses to send it again when an order with it exists
(``check_before_submit``). Failures are mapped to what they say of the order:

- a duplicate client id (``DuplicateOrderId``, or an ``InvalidOrder`` saying "duplicate")
  -> :class:`DuplicateClientOrderId`;
- ``InsufficientFunds``, ``InvalidOrder``, ``BadRequest``, permission errors, and our own
  precision/minimum checks -> :class:`OrderRejected` (nothing was sent or placed);
- ``NetworkError`` (``RequestTimeout``, ``ExchangeNotAvailable``, ``DDoSProtection``,
  ``RateLimitExceeded``), an unreadable answer or an unclassified exchange error
  -> :class:`OutcomeUnknown`.

The broker order id is ``"<symbol>|<exchange id>"`` so that an order can be cancelled or looked
up after a restart (ccxt needs the symbol for both).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt

from quant_engine.brokers.base import (
    Account,
    BrokerError,
    DuplicateClientOrderId,
    MarketClock,
    MarketClosed,
    Order,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OutcomeUnknown,
    Position,
)
from quant_engine.brokers.lots import LotRules
from quant_engine.brokers.redact import RedactingLogger, redact

log = logging.getLogger(__name__)

_SEPARATOR = "|"
_REFUSED = (
    ccxt.InsufficientFunds,
    ccxt.InvalidOrder,
    ccxt.BadRequest,
    ccxt.AuthenticationError,
    ccxt.PermissionDenied,
    ccxt.AccountSuspended,
    ccxt.OperationRejected,
    ccxt.ArgumentsRequired,
    ccxt.NotSupported,
)


@dataclass(frozen=True)
class CcxtConfig:
    """Which exchange and how to reach it. Keys are not part of it: they are passed separately."""

    exchange_id: str = "binance"
    live: bool = False  # the exchange's real endpoint; its sandbox unless said explicitly
    api_url: str | None = None  # replaces scheme and host of every API URL (stand-ins, proxies)
    quote_currency: str = "USDT"  # the account's cash
    # Markets to search for a client order id after a restart (ccxt needs a symbol), and for
    # open orders where the exchange cannot list them all at once.
    symbols: tuple[str, ...] = ()
    timeout_ms: int = 10_000
    max_client_order_id_length: int = 36  # binance's limit; ours go up to 48
    check_before_submit: bool = True  # look the client id up before sending it
    options: dict[str, Any] = field(default_factory=dict, hash=False)  # exchange options

    def __post_init__(self) -> None:
        if not hasattr(ccxt, self.exchange_id):
            raise ValueError(f"ccxt has no exchange {self.exchange_id!r}")
        if self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms {self.timeout_ms} must be > 0")


def make_exchange(config: CcxtConfig, api_key: str, secret: str) -> ccxt.Exchange:
    """A ccxt exchange for ``config``: sandbox unless ``live``, pointed at ``api_url`` if set."""
    if not api_key or not secret:
        raise ValueError(f"{config.exchange_id}: API key and secret must both be given")
    exchange = getattr(ccxt, config.exchange_id)(
        {
            "apiKey": api_key,
            "secret": secret,
            "timeout": config.timeout_ms,
            "enableRateLimit": config.api_url is None,
            "options": dict(config.options),
            # ccxt logs every request with its headers (the API key among them) at DEBUG.
            "logger": RedactingLogger(logging.getLogger(f"{__name__}.wire"), (api_key, secret)),
        }
    )
    if config.api_url is not None:
        exchange.urls["api"] = _rebased(exchange.urls["api"], config.api_url)
    elif not config.live:
        if not exchange.urls.get("test"):
            raise ValueError(
                f"{config.exchange_id} has no sandbox: set live=True to trade for real"
            )
        exchange.set_sandbox_mode(True)
    return exchange


def _rebased(urls: Any, base: str) -> Any:
    """``urls`` (a URL or a nested dict of them) with scheme and host replaced by ``base``."""
    if isinstance(urls, dict):
        return {name: _rebased(url, base) for name, url in urls.items()}
    parts = urlsplit(urls)
    return base.rstrip("/") + parts.path


def lot_rules(exchange: ccxt.Exchange, symbol: str) -> LotRules:
    """The quantity step, price tick and minimums of ``symbol`` from the loaded markets."""
    market = exchange.market(symbol)
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    return LotRules(
        symbol=symbol,
        quantity_step=_step(exchange.precisionMode, precision.get("amount")),
        price_tick=_step(exchange.precisionMode, precision.get("price")),
        min_quantity=_decimal((limits.get("amount") or {}).get("min")),
        max_quantity=_decimal((limits.get("amount") or {}).get("max")),
        min_notional=_decimal((limits.get("cost") or {}).get("min")),
    )


def _step(mode: int, value: Any) -> Decimal | None:
    if value is None:
        return None
    if mode == ccxt.TICK_SIZE:
        return _decimal(value)
    if mode == ccxt.DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    return None  # significant digits: the step depends on the size; left to the exchange


class CcxtBroker:
    """The broker protocol over one spot account of a ccxt exchange."""

    def __init__(self, exchange: ccxt.Exchange, config: CcxtConfig) -> None:
        self.config = config
        self.name = f"{config.exchange_id}-{'live' if config.live else 'test'}"
        self._exchange = exchange
        self._symbol_of: dict[str, str] = {}  # client order id -> symbol, for lookups
        self._markets_loaded = False

    def __repr__(self) -> str:
        return f"CcxtBroker(name={self.name!r}, api_url={self.config.api_url!r})"

    def rules(self, symbol: str) -> LotRules:
        self._load_markets()
        try:
            return lot_rules(self._exchange, symbol)
        except ccxt.BadSymbol:
            raise OrderRejected(f"{self.name}: unknown symbol {symbol}", code="symbol") from None

    # ------------------------------------------------------------------------- reads
    def account(self) -> Account:
        balance = self._read("balance", self._exchange.fetch_balance)
        quote = self.config.quote_currency
        cash = _decimal((balance.get("total") or {}).get(quote)) or Decimal(0)
        free = _decimal((balance.get("free") or {}).get(quote)) or Decimal(0)
        positions = self._positions_from(balance)
        prices = self._last_prices(sorted(positions))
        equity = cash + sum((p.quantity * prices[s] for s, p in positions.items()), Decimal(0))
        return Account(cash=cash, equity=equity, buying_power=free, currency=quote)

    def positions(self) -> dict[str, Position]:
        """Balances other than the quote currency; spot balances carry no cost basis (0)."""
        positions = self._positions_from(self._read("balance", self._exchange.fetch_balance))
        prices = self._last_prices(sorted(positions))
        return {
            s: Position(s, p.quantity, p.average_price, prices[s]) for s, p in positions.items()
        }

    def open_orders(self) -> list[Order]:
        """Every open order of the account (per configured symbol where the exchange insists)."""
        self._exchange.options["warnOnFetchOpenOrdersWithoutSymbol"] = False
        try:
            raw = self._exchange.fetch_open_orders()
        except ccxt.ArgumentsRequired:
            if not self.config.symbols:
                raise BrokerError(
                    f"{self.name}: open orders can only be listed per symbol: configure symbols"
                ) from None
            raw = []
            for symbol in self.config.symbols:
                raw += self._read(
                    "open orders", lambda s=symbol: self._exchange.fetch_open_orders(s)
                )
        except ccxt.BaseError as error:
            raise BrokerError(self._describe("open orders", error)) from None
        orders = [self._order(o) for o in raw]
        return sorted(orders, key=lambda o: o.submitted_at or datetime.min.replace(tzinfo=UTC))

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        remembered = self._symbol_of.get(client_order_id)
        symbols = [remembered] if remembered else list(self.config.symbols)
        if not symbols:
            raise BrokerError(
                f"{self.name}: cannot look up order {client_order_id}: its symbol is unknown "
                "(configure the symbols traded)"
            )
        for symbol in symbols:
            try:
                raw = self._exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id})
            except ccxt.OrderNotFound:
                continue
            except ccxt.BaseError as error:
                raise BrokerError(self._describe(f"order {client_order_id}", error)) from None
            return self._order(raw)
        return None

    def clock(self) -> MarketClock:
        """Crypto spot markets trade around the clock."""
        return MarketClock(timestamp=datetime.now(UTC), is_open=True)

    # ------------------------------------------------------------------------- orders
    def submit(self, request: OrderRequest) -> Order:
        cid = request.client_order_id
        what = f"order {cid}"
        if len(cid) > self.config.max_client_order_id_length:
            raise OrderRejected(
                f"{self.name}: client order id {cid!r} is longer than "
                f"{self.config.max_client_order_id_length} characters",
                code="client_order_id",
            )
        rules = self.rules(request.symbol)
        problem = rules.problem(request.quantity, request.limit_price)
        limit = request.limit_price
        if problem is None and limit is not None and not rules.is_on_tick(limit):
            problem = f"limit price {limit} is not on the tick {rules.price_tick}"
        if problem is not None:
            raise OrderRejected(f"{self.name}: {what} {request.symbol}: {problem}", code="lot")
        if request.time_in_force == "opg":
            raise OrderRejected(
                f"{self.name}: {what}: crypto markets have no opening auction (no opg orders)",
                code="time_in_force",
            )
        params: dict[str, Any] = {"clientOrderId": cid}
        if request.order_type == "limit":
            if request.time_in_force == "day":
                raise OrderRejected(
                    f"{self.name}: {what}: crypto markets have no day orders (use gtc or ioc)",
                    code="time_in_force",
                )
            params["timeInForce"] = request.time_in_force.upper()
        self._symbol_of[cid] = request.symbol
        if self.config.check_before_submit:
            existing = self.order_by_client_id(cid)
            if existing is not None:
                raise DuplicateClientOrderId(
                    f"{self.name}: {what} exists already ({existing.status})"
                )
        amount = _exact_float(request.quantity, "quantity", cid)
        price = (
            None
            if request.limit_price is None
            else _exact_float(request.limit_price, "limit price", cid)
        )
        try:
            raw = self._exchange.create_order(
                request.symbol, request.order_type, request.side, amount, price, params
            )
        except ccxt.BaseError as error:
            raise self._submit_error(what, error) from None
        log.info("%s: submitted %s", self.name, cid)
        return self._order(raw, fallback=request)

    def cancel(self, broker_order_id: str) -> None:
        symbol, _, exchange_id = broker_order_id.rpartition(_SEPARATOR)
        if not symbol or not exchange_id:
            raise ValueError(f"{self.name}: {broker_order_id!r} is not an order id of ours")
        what = f"cancel of order {broker_order_id}"
        try:
            self._exchange.cancel_order(exchange_id, symbol)
        except (ccxt.NetworkError, ccxt.BadResponse) as error:
            raise OutcomeUnknown(self._describe(what, error)) from None
        except ccxt.BaseError as error:
            raise BrokerError(self._describe(what, error)) from None

    # ------------------------------------------------------------------------- helpers
    def _load_markets(self) -> None:
        if not self._markets_loaded:
            self._read("markets", self._exchange.load_markets)
            self._markets_loaded = True

    def _positions_from(self, balance: dict[str, Any]) -> dict[str, Position]:
        self._load_markets()
        quote = self.config.quote_currency
        out: dict[str, Position] = {}
        for currency, total in (balance.get("total") or {}).items():
            quantity = _decimal(total)
            if currency == quote or not quantity:
                continue
            symbol = f"{currency}/{quote}"
            if symbol not in self._exchange.markets:
                log.warning(
                    "%s: balance of %s has no %s market; left out", self.name, currency, quote
                )
                continue
            out[symbol] = Position(symbol=symbol, quantity=quantity, average_price=Decimal(0))
        return out

    def _last_prices(self, symbols: list[str]) -> dict[str, Decimal]:
        if not symbols:
            return {}
        tickers = self._read("prices", lambda: self._exchange.fetch_tickers(symbols))
        prices = {}
        for symbol in symbols:
            last = _decimal((tickers.get(symbol) or {}).get("last"))
            if last is None:
                raise BrokerError(f"{self.name}: no last price for {symbol}")
            prices[symbol] = last
        return prices

    def _read(self, what: str, call: Any) -> Any:
        try:
            return call()
        except ccxt.BaseError as error:
            raise BrokerError(self._describe(what, error)) from None

    def _submit_error(self, what: str, error: ccxt.BaseError) -> BrokerError:
        text = self._describe(what, error)
        if isinstance(error, ccxt.DuplicateOrderId) or (
            isinstance(error, ccxt.ExchangeError) and "duplicate" in str(error).lower()
        ):
            return DuplicateClientOrderId(text)
        if isinstance(error, ccxt.MarketClosed):
            return MarketClosed(text)
        if isinstance(error, _REFUSED):
            return OrderRejected(text, code=type(error).__name__)
        return OutcomeUnknown(text)

    def _describe(self, what: str, error: Exception) -> str:
        """A one-line account of ``error`` without anything secret in it."""
        text = f"{self.name}: {what} failed ({type(error).__name__}: {str(error)[:300]})"
        return redact(text, (self._exchange.apiKey, self._exchange.secret))

    def _order(self, raw: dict[str, Any], fallback: OrderRequest | None = None) -> Order:
        symbol = raw.get("symbol") or (fallback.symbol if fallback else "")
        cid = raw.get("clientOrderId") or (fallback.client_order_id if fallback else "")
        if cid:
            self._symbol_of[cid] = symbol
        amount = _decimal(raw.get("amount"))
        if amount is None:
            amount = fallback.quantity if fallback else Decimal(0)
        filled = _decimal(raw.get("filled")) or Decimal(0)
        timestamp = raw.get("timestamp")
        return Order(
            client_order_id=cid,
            broker_order_id=f"{symbol}{_SEPARATOR}{raw['id']}",
            symbol=symbol,
            side=raw.get("side") or (fallback.side if fallback else "buy"),
            quantity=amount,
            status=_status(raw.get("status"), filled, amount),
            filled_quantity=filled,
            average_fill_price=_decimal(raw.get("average")) if filled > 0 else None,
            order_type="limit" if raw.get("type") == "limit" else "market",
            limit_price=_decimal(raw.get("price")) if raw.get("type") == "limit" else None,
            submitted_at=None
            if timestamp is None
            else datetime.fromtimestamp(timestamp / 1000, UTC),
        )


def _status(status: str | None, filled: Decimal, amount: Decimal) -> OrderStatus:
    """ccxt's unified status in ours; anything that may still fill counts as open."""
    if status == "closed":
        return "filled" if filled >= amount else "expired"
    if status in ("canceled", "cancelled"):
        return "cancelled"
    if status == "expired":
        return "expired"
    if status == "rejected":
        return "rejected"
    return "partially_filled" if filled > 0 else "new"  # open, canceling, unknown


def _decimal(value: Any) -> Decimal | None:
    """A number from ccxt (a float, int or string) as the Decimal it was written as."""
    if value is None or value == "":
        return None
    return Decimal(value) if isinstance(value, str) else Decimal(repr(value))


def _exact_float(value: Decimal, what: str, client_order_id: str) -> float:
    """ccxt takes floats: refuse any value that would not arrive exactly."""
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise OrderRejected(
            f"order {client_order_id}: {what} {value} cannot be sent exactly", code="precision"
        )
    return as_float
