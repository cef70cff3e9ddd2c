"""An Alpaca account behind the broker protocol, through alpaca-py's ``TradingClient``.

The paper endpoint is the default; the live one is used only when the configuration says
``live=True``. Every failure is mapped to what it says of the order (see
:mod:`quant_engine.brokers.base`):

- 422 "client_order_id must be unique" -> :class:`DuplicateClientOrderId` (placed before; this
  is also what a 504 followed by the client's own retry looks like);
- 403 (wash trade, buying power, shares available) and other 4xx -> :class:`OrderRejected` with
  Alpaca's error code;
- timeouts, connection failures, 5xx, and 429/504 left after the client's own retries ->
  :class:`OutcomeUnknown` for ``submit`` and ``cancel``; look the order up by client order id.

API keys are passed in (callers read them from the environment); they are never logged and
never part of an exception's text.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import requests
from alpaca.common.enums import Sort
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, PositionSide, QueryOrderStatus, TimeInForce
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.requests import GetOrdersRequest, LimitOrderRequest, MarketOrderRequest
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

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
from quant_engine.brokers.redact import redact

log = logging.getLogger(__name__)

PAGE_LIMIT = 500  # Alpaca's most orders per GET /v2/orders
DUPLICATE_MESSAGE = "client_order_id must be unique"

# Alpaca's order statuses in ours. Anything that may still fill counts as open, so that no
# second order is ever sent beside it.
_STATUS: dict[AlpacaStatus, OrderStatus] = {
    AlpacaStatus.NEW: "new",
    AlpacaStatus.PENDING_NEW: "new",
    AlpacaStatus.ACCEPTED: "accepted",
    AlpacaStatus.ACCEPTED_FOR_BIDDING: "accepted",
    AlpacaStatus.HELD: "accepted",
    AlpacaStatus.PENDING_REVIEW: "accepted",
    AlpacaStatus.STOPPED: "accepted",
    AlpacaStatus.SUSPENDED: "accepted",
    AlpacaStatus.PENDING_CANCEL: "accepted",
    AlpacaStatus.PENDING_REPLACE: "accepted",
    AlpacaStatus.DONE_FOR_DAY: "accepted",
    AlpacaStatus.CALCULATED: "accepted",
    AlpacaStatus.PARTIALLY_FILLED: "partially_filled",
    AlpacaStatus.FILLED: "filled",
    AlpacaStatus.CANCELED: "cancelled",
    AlpacaStatus.REPLACED: "cancelled",
    AlpacaStatus.EXPIRED: "expired",
    AlpacaStatus.REJECTED: "rejected",
}
_TIME_IN_FORCE = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "opg": TimeInForce.OPG,
}


@dataclass(frozen=True)
class AlpacaConfig:
    """How to reach the Alpaca account. Keys are not part of it: they are passed separately."""

    live: bool = False  # the live endpoint; paper unless said explicitly
    url_override: str | None = None  # e.g. a loopback stand-in in tests, or a proxy
    require_open_market: bool = True  # refuse to submit while the market is closed
    timeout_seconds: float = 10.0  # per HTTP request; alpaca-py itself has none
    retry_attempts: int = 3  # the client's own retries on 429 and 504
    retry_wait_seconds: float = 3.0
    max_retry_after_seconds: float = 60.0  # the longest Retry-After (429, 503) honoured

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds {self.timeout_seconds} must be > 0")
        if self.retry_attempts < 1 or self.retry_wait_seconds <= 0:
            raise ValueError("retry_attempts must be >= 1 and retry_wait_seconds > 0")


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout where the caller set none, and waits out a 429's or 503's
    ``Retry-After`` (up to ``max_wait`` seconds) before the client's own retry."""

    def __init__(self, timeout: float, max_wait: float = 60.0) -> None:
        super().__init__()
        self._timeout = timeout
        self._max_wait = max_wait

    def send(self, request: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        response = super().send(request, **kwargs)
        if response.status_code in (429, 503):
            try:
                wait = float(response.headers.get("Retry-After", ""))
            except ValueError:
                wait = 0.0  # absent, or an HTTP date: the client's own wait applies
            if wait > 0:
                time.sleep(min(wait, self._max_wait))
        return response


def trading_client(config: AlpacaConfig, api_key: str, secret_key: str) -> TradingClient:
    """alpaca-py's TradingClient for ``config``, with its retries and a request timeout set."""
    if not api_key or not secret_key:
        raise ValueError("Alpaca API key and secret key must both be given")
    client = TradingClient(
        api_key=api_key,
        secret_key=secret_key,
        paper=not config.live,
        url_override=config.url_override,
    )
    # RESTClient keeps its retry policy and requests session in these attributes;
    # TradingClient's constructor does not pass the options through, and sets no timeout.
    client._retry = config.retry_attempts
    client._retry_wait = config.retry_wait_seconds  # type: ignore[assignment]
    adapter = _TimeoutAdapter(config.timeout_seconds, config.max_retry_after_seconds)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    return client


class AlpacaBroker:
    """The broker protocol over one Alpaca account."""

    def __init__(self, config: AlpacaConfig, *, api_key: str, secret_key: str) -> None:
        self.config = config
        self.name = "alpaca-live" if config.live else "alpaca-paper"
        self._secrets = (api_key, secret_key)  # only to blank them out of error messages
        self._client = trading_client(config, api_key, secret_key)

    def __repr__(self) -> str:
        return f"AlpacaBroker(name={self.name!r}, url_override={self.config.url_override!r})"

    # ------------------------------------------------------------------------- reads
    def account(self) -> Account:
        raw = self._read("account", self._client.get_account)
        return Account(
            cash=_decimal(raw.cash),
            equity=_decimal(raw.equity),
            buying_power=_decimal(raw.buying_power),
            currency=raw.currency or "USD",
            previous_close_equity=_optional_decimal(raw.last_equity),
        )

    def positions(self) -> dict[str, Position]:
        out: dict[str, Position] = {}
        for raw in self._read("positions", self._client.get_all_positions):
            quantity = _decimal(raw.qty)
            if raw.side == PositionSide.SHORT and quantity > 0:
                quantity = -quantity
            out[raw.symbol] = Position(
                symbol=raw.symbol,
                quantity=quantity,
                average_price=_decimal(raw.avg_entry_price),
                market_price=_optional_decimal(raw.current_price),
            )
        return out

    def open_orders(self) -> list[Order]:
        """Every open order, paged newest first with ``until`` so that none is left out."""
        seen: dict[str, AlpacaOrder] = {}
        until: datetime | None = None
        while True:
            request = GetOrdersRequest(
                status=QueryOrderStatus.OPEN,
                limit=PAGE_LIMIT,
                direction=Sort.DESC,
                until=until,
                nested=False,
            )
            page = self._read("open orders", lambda r=request: self._client.get_orders(r))
            new = [o for o in page if str(o.id) not in seen]
            seen.update((str(raw.id), raw) for raw in new)
            if len(page) < PAGE_LIMIT:
                ordered = sorted(seen.values(), key=lambda o: (o.submitted_at, str(o.id)))
                return [_order(raw) for raw in ordered]
            if not new:
                raise BrokerError(
                    f"{self.name}: more than {PAGE_LIMIT} open orders share one submission "
                    "time; they cannot be paged"
                )
            # ``until`` is exclusive: step past the oldest time seen so that orders sharing it
            # come again (and are recognised) rather than being skipped.
            until = min(o.submitted_at for o in page) + timedelta(microseconds=1)

    def order_by_client_id(self, client_order_id: str) -> Order | None:
        try:
            raw = self._client.get_order_by_client_id(client_order_id)
        except APIError as error:
            if error.status_code == 404:
                return None
            raise BrokerError(self._describe(f"order {client_order_id}", error)) from None
        except (requests.RequestException, ValidationError) as error:
            raise BrokerError(self._describe(f"order {client_order_id}", error)) from None
        return _order(raw)

    def clock(self) -> MarketClock:
        raw = self._read("clock", self._client.get_clock)
        return MarketClock(
            timestamp=raw.timestamp,
            is_open=raw.is_open,
            next_open=raw.next_open,
            next_close=raw.next_close,
        )

    # ------------------------------------------------------------------------- orders
    def submit(self, request: OrderRequest) -> Order:
        # Market-on-open orders are made for a closed market (the next opening auction).
        if self.config.require_open_market and request.time_in_force != "opg":
            clock = self.clock()
            if not clock.is_open:
                raise MarketClosed(
                    f"{self.name}: market closed at {clock.timestamp.isoformat()} (next open "
                    f"{clock.next_open.isoformat() if clock.next_open else 'unknown'}); "
                    f"order {request.client_order_id} not sent"
                )
        alpaca_request = _alpaca_request(request)
        what = f"order {request.client_order_id}"
        try:
            raw = self._client.submit_order(alpaca_request)
        except APIError as error:
            raise self._submit_error(what, error) from None
        except requests.RequestException as error:
            raise OutcomeUnknown(self._describe(what, error)) from None
        except ValidationError as error:  # placed, but the answer did not parse
            raise OutcomeUnknown(self._describe(what, error)) from None
        log.info("%s: submitted %s (%s)", self.name, request.client_order_id, raw.status.value)
        return _order(raw)

    def cancel(self, broker_order_id: str) -> None:
        what = f"cancel of order {broker_order_id}"
        try:
            self._client.cancel_order_by_id(broker_order_id)
        except APIError as error:
            status = error.status_code
            if status is not None and (status >= 500 or status == 429):
                raise OutcomeUnknown(self._describe(what, error)) from None
            raise BrokerError(self._describe(what, error)) from None
        except requests.RequestException as error:
            raise OutcomeUnknown(self._describe(what, error)) from None

    # ------------------------------------------------------------------------- helpers
    def _read(self, what: str, call: Any) -> Any:
        try:
            return call()
        except (APIError, requests.RequestException, ValidationError) as error:
            raise BrokerError(self._describe(what, error)) from None

    def _submit_error(self, what: str, error: APIError) -> BrokerError:
        status = error.status_code
        code, message = _api_error_fields(error)
        if status == 422 and DUPLICATE_MESSAGE in message:
            return DuplicateClientOrderId(self._describe(what, error))
        if status is None or status >= 500 or status in (408, 429):
            return OutcomeUnknown(self._describe(what, error))
        return OrderRejected(self._describe(what, error), code=code or str(status))

    def _describe(self, what: str, error: Exception) -> str:
        """A one-line account of ``error`` without anything secret in it."""
        if isinstance(error, APIError):
            code, message = _api_error_fields(error)
            detail = f"HTTP {error.status_code}" + (f" code {code}" if code else "")
            detail += f": {message}" if message else ""
        else:
            detail = f"{type(error).__name__}: {error}"
        return redact(f"{self.name}: {what} failed ({detail})", self._secrets)


def _api_error_fields(error: APIError) -> tuple[str | None, str]:
    """Alpaca's ``code`` and ``message`` from an error body, when it is the usual JSON."""
    try:
        body = json.loads(str(error))
    except ValueError:
        return None, str(error)[:200]
    if not isinstance(body, dict):
        return None, str(body)[:200]
    code = body.get("code")
    return (None if code is None else str(code)), str(body.get("message", ""))


def _alpaca_request(request: OrderRequest) -> MarketOrderRequest | LimitOrderRequest:
    common = {
        "symbol": request.symbol,
        "qty": _exact_float(request.quantity, "quantity", request.client_order_id),
        "side": OrderSide.BUY if request.side == "buy" else OrderSide.SELL,
        "time_in_force": _TIME_IN_FORCE[request.time_in_force],
        "client_order_id": request.client_order_id,
    }
    if request.order_type == "market":
        return MarketOrderRequest(**common)
    assert request.limit_price is not None  # OrderRequest guarantees it for limit orders
    limit = _exact_float(request.limit_price, "limit price", request.client_order_id)
    return LimitOrderRequest(**common, limit_price=limit)


def _exact_float(value: Decimal, what: str, client_order_id: str) -> float:
    """alpaca-py sends numbers as JSON floats: refuse any that would not arrive exactly."""
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise ValueError(
            f"order {client_order_id}: {what} {value} cannot be sent exactly (too many digits)"
        )
    return as_float


def _order(raw: AlpacaOrder) -> Order:
    status = _STATUS[raw.status]
    filled = _decimal(raw.filled_qty or "0")
    quantity = _decimal(raw.qty or "0")
    if raw.status in (AlpacaStatus.DONE_FOR_DAY, AlpacaStatus.CALCULATED) and filled > 0:
        status = "filled" if filled == quantity else "partially_filled"
    average = _optional_decimal(raw.filled_avg_price)
    return Order(
        client_order_id=raw.client_order_id,
        broker_order_id=str(raw.id),
        symbol=raw.symbol or "",
        side="buy" if raw.side == OrderSide.BUY else "sell",
        quantity=quantity,
        status=status,
        filled_quantity=filled,
        average_fill_price=average if filled > 0 else None,
        order_type="limit" if raw.limit_price is not None else "market",
        limit_price=_optional_decimal(raw.limit_price),
        submitted_at=raw.submitted_at,
        reason=None,
    )


def _decimal(value: str | None) -> Decimal:
    if value is None:
        raise BrokerError("Alpaca sent no value where a number was expected")
    return Decimal(value)


def _optional_decimal(value: str | None) -> Decimal | None:
    return None if value is None or value == "" else Decimal(value)
