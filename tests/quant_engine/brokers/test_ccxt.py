"""The ccxt broker through ccxt's real binance client against our loopback binance stand-in.

In every fault case the stand-in must end with exactly one order per client order id (none
sent twice, none lost) and the broker must say what is known of it.
"""

from __future__ import annotations

import logging
import traceback
from decimal import Decimal

import pytest

from quant_engine.brokers.base import (
    Broker,
    BrokerError,
    DuplicateClientOrderId,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
)
from quant_engine.brokers.ccxt import CcxtBroker, CcxtConfig, make_exchange
from quant_engine.brokers.lots import round_to_lot
from tests.quant_engine.brokers.conftest import (
    BEYOND_TIMEOUT_SECONDS,
    BINANCE_KEY,
    BINANCE_SECRET,
    ccxt_broker_for,
    ccxt_config,
)
from tests.stand_ins.binance_spot import (
    ORDERS,
    BinanceSpotStandIn,
    gateway_timeout,
    no_answer,
    rate_limited,
)
from tests.stand_ins.trading_server import LoopbackServer


def buy(cid: str, symbol: str = "BTC/USDT", qty: str = "0.01", **kw: object) -> OrderRequest:
    return OrderRequest(cid, symbol, "buy", Decimal(qty), **kw)  # type: ignore[arg-type]


def test_sandbox_unless_live_is_explicit() -> None:
    exchange = make_exchange(CcxtConfig(), "k", "s")
    assert "testnet" in exchange.urls["api"]["private"]
    live = make_exchange(CcxtConfig(live=True), "k", "s")
    assert live.urls["api"]["private"] == "https://api.binance.com/api/v3"
    with pytest.raises(ValueError, match="no sandbox"):
        make_exchange(CcxtConfig(exchange_id="bitstamp"), "k", "s")
    with pytest.raises(ValueError, match="no exchange"):
        CcxtConfig(exchange_id="nosuchexchange")


def test_market_rules_come_from_the_exchange(ccxt_broker: CcxtBroker) -> None:
    assert isinstance(ccxt_broker, Broker)
    rules = ccxt_broker.rules("BTC/USDT")
    assert rules.quantity_step == Decimal("0.00001")
    assert rules.price_tick == Decimal("0.01")
    assert rules.min_notional == Decimal("5")
    rounded = round_to_lot(rules, Decimal("0.0123456789"), Decimal("50000"))
    assert rounded.quantity == Decimal("0.01234") and rounded.tradable
    tiny = round_to_lot(rules, Decimal("0.00005"), Decimal("50000"))
    assert not tiny.tradable and "notional" in (tiny.reason or "")


def test_balances_are_account_and_positions(ccxt_broker: CcxtBroker) -> None:
    account = ccxt_broker.account()
    assert account.cash == Decimal("10000") and account.currency == "USDT"
    assert account.equity == Decimal("10000") + Decimal("1.5") * Decimal("3000")
    positions = ccxt_broker.positions()
    assert list(positions) == ["ETH/USDT"]
    assert positions["ETH/USDT"].quantity == Decimal("1.5")
    assert positions["ETH/USDT"].market_price == Decimal("3000")
    clock = ccxt_broker.clock()
    assert clock.is_open


def test_market_buy_fills_and_moves_balances(
    ccxt_broker: CcxtBroker, binance_account: BinanceSpotStandIn
) -> None:
    order = ccxt_broker.submit(buy("mk-1", qty="0.01234"))
    assert order.status == "filled" and order.filled_quantity == Decimal("0.01234")
    assert order.average_fill_price == Decimal("50000")
    assert binance_account.total("BTC") == Decimal("0.01234")
    assert ccxt_broker.account().cash == Decimal("10000") - Decimal("617")
    assert binance_account.orders_with_client_id("mk-1")[0].orig_qty == Decimal("0.01234")


def test_limit_order_rests_and_is_cancelled(
    ccxt_broker: CcxtBroker, binance_account: BinanceSpotStandIn
) -> None:
    resting = OrderRequest(
        "lim-1", "ETH/USDT", "sell", Decimal("0.5"), "limit", Decimal("3100.55"), "gtc"
    )
    order = ccxt_broker.submit(resting)
    assert order.status == "new" and order.limit_price == Decimal("3100.55")
    assert [o.client_order_id for o in ccxt_broker.open_orders()] == ["lim-1"]
    ccxt_broker.cancel(order.broker_order_id)
    assert ccxt_broker.open_orders() == []
    assert ccxt_broker.order_by_client_id("lim-1").status == "cancelled"  # type: ignore[union-attr]
    assert binance_account.free["ETH"] == Decimal("1.5")
    with pytest.raises(BrokerError) as raised:
        ccxt_broker.cancel(order.broker_order_id)
    assert not isinstance(raised.value, OutcomeUnknown)


def test_504_after_accept_is_unknown_found_once_and_never_resent(
    ccxt_broker: CcxtBroker,
    binance_server: LoopbackServer,
    binance_account: BinanceSpotStandIn,
) -> None:
    binance_server.inject(ORDERS, gateway_timeout(after_accept=True))
    with pytest.raises(OutcomeUnknown, match="504"):
        ccxt_broker.submit(buy("gw-1"))
    found = ccxt_broker.order_by_client_id("gw-1")
    assert found is not None and found.status == "filled"
    # binance would take the id again once its order is filled; the broker looks first.
    with pytest.raises(DuplicateClientOrderId, match="exists already"):
        ccxt_broker.submit(buy("gw-1"))
    assert len(binance_server.requests_on(ORDERS)) == 1
    assert len(binance_account.orders_with_client_id("gw-1")) == 1
    assert binance_account.total("BTC") == Decimal("0.01")


def test_without_the_lookup_binance_would_place_a_filled_id_twice(
    binance_server: LoopbackServer, binance_account: BinanceSpotStandIn
) -> None:
    """Why ``check_before_submit`` is on by default: the stand-in, like binance, takes it."""
    careless = ccxt_broker_for(binance_server, check_before_submit=False)
    careless.submit(buy("twice-1"))
    careless.submit(buy("twice-1"))
    assert len(binance_account.orders_with_client_id("twice-1")) == 2


def test_exchange_duplicate_of_an_open_order_is_a_duplicate(
    binance_server: LoopbackServer, binance_account: BinanceSpotStandIn
) -> None:
    broker = ccxt_broker_for(binance_server, check_before_submit=False)
    resting = OrderRequest(
        "dup-1", "BTC/USDT", "buy", Decimal("0.01"), "limit", Decimal("40000"), "gtc"
    )
    broker.submit(resting)
    with pytest.raises(DuplicateClientOrderId, match="Duplicate order sent"):
        broker.submit(resting)
    assert len(binance_account.orders_with_client_id("dup-1")) == 1


def test_rate_limit_is_unknown_and_resolved_as_not_placed(
    ccxt_broker: CcxtBroker,
    binance_server: LoopbackServer,
    binance_account: BinanceSpotStandIn,
) -> None:
    binance_server.inject(ORDERS, rate_limited())
    with pytest.raises(OutcomeUnknown, match=r"DDoSProtection|RateLimit"):
        ccxt_broker.submit(buy("rl-1"))
    assert ccxt_broker.order_by_client_id("rl-1") is None
    ccxt_broker.submit(buy("rl-1"))
    assert len(binance_account.orders_with_client_id("rl-1")) == 1


def test_timeout_after_accept_is_unknown_and_found_once(
    ccxt_broker: CcxtBroker,
    binance_server: LoopbackServer,
    binance_account: BinanceSpotStandIn,
) -> None:
    binance_server.inject(ORDERS, no_answer(BEYOND_TIMEOUT_SECONDS))
    with pytest.raises(OutcomeUnknown, match="RequestTimeout"):
        ccxt_broker.submit(buy("to-1"))
    with pytest.raises(DuplicateClientOrderId):
        ccxt_broker.submit(buy("to-1"))
    assert len(binance_account.orders_with_client_id("to-1")) == 1


def test_insufficient_funds_is_rejected(
    ccxt_broker: CcxtBroker, binance_account: BinanceSpotStandIn
) -> None:
    with pytest.raises(OrderRejected, match="insufficient balance") as raised:
        ccxt_broker.submit(buy("nf-1", qty="1"))
    assert raised.value.code == "InsufficientFunds"
    assert binance_account.orders_with_client_id("nf-1") == []


def test_exchange_filter_failure_is_rejected(
    ccxt_broker: CcxtBroker, binance_account: BinanceSpotStandIn
) -> None:
    with pytest.raises(OrderRejected, match="NOTIONAL"):
        ccxt_broker.submit(buy("nt-1", qty="0.00005"))  # 2.5 USDT: below the minimum of 5
    assert binance_account.orders_with_client_id("nt-1") == []


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (buy("lot-1", qty="0.000015"), "not a multiple of the step"),
        (
            OrderRequest(
                "lot-2", "BTC/USDT", "buy", Decimal("0.01"), "limit", Decimal("40000.005"), "gtc"
            ),
            "not on the tick",
        ),
        (
            OrderRequest(
                "lot-3", "BTC/USDT", "buy", Decimal("0.01"), "limit", Decimal("40000"), "day"
            ),
            "no day orders",
        ),
        (buy("x" * 37), "longer than 36"),
        (buy("sym-1", symbol="DOGE/USDT"), "unknown symbol"),
    ],
)
def test_orders_the_exchange_would_refuse_are_not_sent(
    ccxt_broker: CcxtBroker,
    binance_server: LoopbackServer,
    request_: OrderRequest,
    message: str,
) -> None:
    with pytest.raises(OrderRejected, match=message):
        ccxt_broker.submit(request_)
    assert binance_server.requests_on(ORDERS) == []


def test_partial_fills_keep_their_filled_quantity(
    ccxt_broker: CcxtBroker, binance_account: BinanceSpotStandIn
) -> None:
    binance_account.partial_fill["BTCUSDT"] = Decimal("0.4")
    market = ccxt_broker.submit(buy("pf-1"))
    assert market.status == "expired"  # a market order's rest expires on binance
    assert market.filled_quantity == Decimal("0.004")
    limit = ccxt_broker.submit(
        OrderRequest("pf-2", "BTC/USDT", "buy", Decimal("0.01"), "limit", Decimal("60000"), "gtc")
    )
    assert limit.status == "partially_filled" and limit.remaining == Decimal("0.006")
    assert [o.client_order_id for o in ccxt_broker.open_orders()] == ["pf-2"]


def test_lookup_after_a_restart_searches_the_configured_symbols(
    binance_server: LoopbackServer,
) -> None:
    first = ccxt_broker_for(binance_server)
    first.submit(buy("rs-1"))
    forgetful = ccxt_broker_for(binance_server)
    with pytest.raises(BrokerError, match="symbol is unknown"):
        forgetful.order_by_client_id("rs-1")
    restarted = ccxt_broker_for(binance_server, symbols=("ETH/USDT", "BTC/USDT"))
    found = restarted.order_by_client_id("rs-1")
    assert found is not None and found.symbol == "BTC/USDT"
    assert restarted.order_by_client_id("rs-404") is None


def test_keys_never_appear_in_logs_errors_or_reprs(
    binance_server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = ccxt_broker_for(binance_server)
    texts = [repr(broker), repr(broker.config)]
    binance_server.inject(ORDERS, gateway_timeout(after_accept=True), rate_limited())
    config = ccxt_config(binance_server)
    wrong = CcxtBroker(make_exchange(config, BINANCE_KEY, "wrong-secret"), config)
    attempts = [
        lambda: broker.submit(buy("leak-1")),
        lambda: broker.submit(buy("leak-2")),
        lambda: broker.submit(buy("leak-1")),
        lambda: broker.submit(buy("leak-3", qty="5")),
        lambda: wrong.account(),
    ]
    for attempt in attempts:
        with pytest.raises(BrokerError) as raised:
            attempt()
        texts.append("".join(traceback.format_exception(raised.value)))
    texts.append(caplog.text)
    for text in texts:
        assert BINANCE_KEY not in text
        assert BINANCE_SECRET not in text
