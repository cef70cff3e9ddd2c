"""The Alpaca broker through the real alpaca-py TradingClient against our loopback stand-in.

In every fault case the stand-in must end with exactly one order per client order id (none
sent twice, none lost) and the broker must say what is known of it.
"""

from __future__ import annotations

import logging
import time
import traceback
from decimal import Decimal

import pytest
from alpaca.common.enums import BaseURL
from alpaca.trading.enums import OrderStatus as AlpacaStatus

from quant_engine.brokers import alpaca as alpaca_module
from quant_engine.brokers.alpaca import AlpacaBroker, AlpacaConfig, trading_client
from quant_engine.brokers.base import (
    Broker,
    BrokerError,
    DuplicateClientOrderId,
    MarketClosed,
    OrderRejected,
    OrderRequest,
    OutcomeUnknown,
)
from tests.quant_engine.brokers.conftest import (
    ALPACA_KEY,
    ALPACA_SECRET,
    BEYOND_TIMEOUT_SECONDS,
    alpaca_config,
)
from tests.stand_ins.alpaca_trading import (
    ORDERS,
    AlpacaTradingStandIn,
    gateway_timeout,
    no_answer,
    rate_limited,
)
from tests.stand_ins.trading_server import LoopbackServer


def buy(cid: str, symbol: str = "AAPL", qty: str = "10", **kw: object) -> OrderRequest:
    return OrderRequest(cid, symbol, "buy", Decimal(qty), **kw)  # type: ignore[arg-type]


def test_is_a_broker_on_the_paper_endpoint_unless_live_is_explicit() -> None:
    paper = AlpacaBroker(AlpacaConfig(), api_key="k", secret_key="s")
    assert isinstance(paper, Broker)
    assert paper.name == "alpaca-paper"
    assert trading_client(AlpacaConfig(), "k", "s")._base_url == BaseURL.TRADING_PAPER
    assert trading_client(AlpacaConfig(live=True), "k", "s")._base_url == BaseURL.TRADING_LIVE
    with pytest.raises(ValueError, match="key"):
        AlpacaBroker(AlpacaConfig(), api_key="", secret_key="s")


def test_every_alpaca_status_has_a_meaning() -> None:
    assert set(alpaca_module._STATUS) == set(AlpacaStatus)


def test_reads_keep_decimals_exact(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    order = alpaca_broker.submit(buy("frac-1", "MSFT", "1.5"))
    assert order.status == "filled"
    assert order.filled_quantity == Decimal("1.5")
    assert order.average_fill_price == Decimal("400.10")
    positions = alpaca_broker.positions()
    assert positions["MSFT"].quantity == Decimal("1.5")
    assert positions["MSFT"].market_price == Decimal("400.10")
    account = alpaca_broker.account()
    assert account.cash == Decimal("100000") - Decimal("1.5") * Decimal("400.10")
    assert account.cash == Decimal("99399.85")
    assert account.equity == Decimal("100000")
    clock = alpaca_broker.clock()
    assert clock.is_open and clock.timestamp.tzinfo is not None


def test_quantity_that_cannot_travel_exactly_is_refused_before_sending(
    alpaca_broker: AlpacaBroker, alpaca_server: LoopbackServer
) -> None:
    with pytest.raises(ValueError, match="exactly"):
        alpaca_broker.submit(buy("digits-1", qty="1.00000000000000001"))
    assert alpaca_server.requests_on(ORDERS) == []


def test_504_after_accept_then_client_retry_is_a_duplicate_found_once(
    alpaca_broker: AlpacaBroker,
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
) -> None:
    alpaca_server.inject(ORDERS, gateway_timeout(after_accept=True))
    with pytest.raises(DuplicateClientOrderId, match="client_order_id must be unique"):
        alpaca_broker.submit(buy("gw-1"))
    assert len(alpaca_server.requests_on(ORDERS)) == 2  # alpaca-py retried on its own
    assert len(alpaca_account.orders_with_client_id("gw-1")) == 1
    found = alpaca_broker.order_by_client_id("gw-1")
    assert found is not None and found.status == "filled"
    assert found.filled_quantity == Decimal("10")
    assert alpaca_account.position_qty("AAPL") == Decimal("10")


def test_504_before_accept_is_retried_by_the_client_and_placed_once(
    alpaca_broker: AlpacaBroker,
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
) -> None:
    alpaca_server.inject(ORDERS, gateway_timeout(after_accept=False))
    order = alpaca_broker.submit(buy("gw-2"))
    assert order.status == "filled"
    assert len(alpaca_server.requests_on(ORDERS)) == 2
    assert len(alpaca_account.orders_with_client_id("gw-2")) == 1


def test_429_beyond_the_client_retries_is_an_unknown_outcome_then_sent_once(
    alpaca_broker: AlpacaBroker,
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
) -> None:
    alpaca_server.inject(ORDERS, *[rate_limited() for _ in range(4)])
    with pytest.raises(OutcomeUnknown, match="HTTP 429"):
        alpaca_broker.submit(buy("rl-1"))
    assert len(alpaca_server.requests_on(ORDERS)) == 4  # one try and three retries
    assert alpaca_broker.order_by_client_id("rl-1") is None  # resolved: not placed
    alpaca_broker.submit(buy("rl-1"))  # so the same id may be sent again
    assert len(alpaca_account.orders_with_client_id("rl-1")) == 1


def test_accepted_then_rate_limited_is_unknown_and_found_once(
    alpaca_broker: AlpacaBroker,
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
) -> None:
    alpaca_server.inject(
        ORDERS, gateway_timeout(after_accept=True), *[rate_limited() for _ in range(3)]
    )
    with pytest.raises(OutcomeUnknown):
        alpaca_broker.submit(buy("rl-2"))
    assert len(alpaca_account.orders_with_client_id("rl-2")) == 1
    found = alpaca_broker.order_by_client_id("rl-2")
    assert found is not None and found.filled_quantity == Decimal("10")


def test_timeout_after_accept_is_unknown_and_a_resend_is_refused(
    alpaca_broker: AlpacaBroker,
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
) -> None:
    alpaca_server.inject(ORDERS, no_answer(BEYOND_TIMEOUT_SECONDS))
    with pytest.raises(OutcomeUnknown, match="Timeout"):
        alpaca_broker.submit(buy("to-1"))
    assert len(alpaca_server.requests_on(ORDERS)) == 1  # no retry on a timeout
    with pytest.raises(DuplicateClientOrderId):
        alpaca_broker.submit(buy("to-1"))
    assert len(alpaca_account.orders_with_client_id("to-1")) == 1
    assert alpaca_account.position_qty("AAPL") == Decimal("10")


def test_second_submit_of_an_id_is_a_duplicate(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    alpaca_broker.submit(buy("dup-1"))
    with pytest.raises(DuplicateClientOrderId):
        alpaca_broker.submit(buy("dup-1", qty="3"))
    assert [o.qty for o in alpaca_account.orders_with_client_id("dup-1")] == [Decimal("10")]


def test_wash_trade_is_rejected_with_its_code(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    alpaca_broker.submit(buy("wash-0", qty="5"))
    resting = OrderRequest("wash-1", "AAPL", "sell", Decimal("5"), "limit", Decimal("999"), "gtc")
    assert alpaca_broker.submit(resting).status == "new"
    with pytest.raises(OrderRejected, match="wash trade") as raised:
        alpaca_broker.submit(buy("wash-2", qty="1"))
    assert raised.value.code == "40310000"
    assert alpaca_account.orders_with_client_id("wash-2") == []


def test_buying_power_is_rejected_with_its_code(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    with pytest.raises(OrderRejected, match="buying power") as raised:
        alpaca_broker.submit(buy("bp-1", "SPY", "201"))
    assert raised.value.code == "40310000"
    assert alpaca_account.orders_with_client_id("bp-1") == []


def test_partial_fill_stays_open_with_its_filled_quantity(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    alpaca_account.partial_fill["AAPL"] = Decimal("0.4")
    order = alpaca_broker.submit(buy("part-1"))
    assert order.status == "partially_filled" and order.is_open
    assert (order.filled_quantity, order.remaining) == (Decimal("4"), Decimal("6"))
    assert [o.client_order_id for o in alpaca_broker.open_orders()] == ["part-1"]
    alpaca_account.fill_open_orders()
    assert alpaca_broker.order_by_client_id("part-1").status == "filled"  # type: ignore[union-attr]
    assert alpaca_broker.open_orders() == []


@pytest.mark.parametrize("per_timestamp", [1, 7])
def test_open_orders_pages_past_500(
    alpaca_broker: AlpacaBroker,
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
    per_timestamp: int,
) -> None:
    created = alpaca_account.add_resting_orders(1234, per_timestamp=per_timestamp)
    orders = alpaca_broker.open_orders()
    assert sorted(o.broker_order_id for o in orders) == sorted(o.id for o in created)
    pages = alpaca_server.requests_on("GET /v2/orders")
    assert len(pages) >= 3
    assert all(int(p.query["limit"]) == 500 for p in pages)


def test_open_orders_that_cannot_be_paged_fail_loudly(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    alpaca_account.add_resting_orders(600, per_timestamp=600)
    with pytest.raises(BrokerError, match="share one submission time"):
        alpaca_broker.open_orders()


def test_market_closed_sends_nothing_when_an_open_market_is_required(
    alpaca_server: LoopbackServer, alpaca_account: AlpacaTradingStandIn
) -> None:
    alpaca_account.market_open = False
    strict = AlpacaBroker(
        alpaca_config(alpaca_server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET
    )
    with pytest.raises(MarketClosed, match="market closed"):
        strict.submit(buy("closed-1"))
    assert alpaca_server.requests_on(ORDERS) == []
    queueing = AlpacaBroker(
        alpaca_config(alpaca_server, require_open_market=False),
        api_key=ALPACA_KEY,
        secret_key=ALPACA_SECRET,
    )
    order = queueing.submit(buy("closed-2"))
    assert order.status == "accepted" and order.filled_quantity == 0
    assert len(alpaca_account.orders_with_client_id("closed-2")) == 1


def test_cancel_an_open_order_and_refuse_a_finished_one(
    alpaca_broker: AlpacaBroker, alpaca_account: AlpacaTradingStandIn
) -> None:
    resting = alpaca_broker.submit(
        OrderRequest("cx-1", "AAPL", "buy", Decimal("2"), "limit", Decimal("1.00"), "gtc")
    )
    alpaca_broker.cancel(resting.broker_order_id)
    assert alpaca_broker.order_by_client_id("cx-1").status == "cancelled"  # type: ignore[union-attr]
    with pytest.raises(BrokerError, match="not cancelable") as raised:
        alpaca_broker.cancel(resting.broker_order_id)
    assert not isinstance(raised.value, OutcomeUnknown)


def test_keys_never_appear_in_logs_errors_or_reprs(
    alpaca_server: LoopbackServer,
    alpaca_account: AlpacaTradingStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = AlpacaBroker(
        alpaca_config(alpaca_server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET
    )
    texts = [repr(broker), repr(broker.config)]
    alpaca_server.inject(
        ORDERS,
        gateway_timeout(after_accept=True),
        *[rate_limited() for _ in range(3)],
        no_answer(BEYOND_TIMEOUT_SECONDS),
    )
    wrong = AlpacaBroker(alpaca_config(alpaca_server), api_key=ALPACA_KEY, secret_key="nope")
    attempts = [
        lambda: broker.submit(buy("leak-1")),
        lambda: broker.submit(buy("leak-2")),
        lambda: broker.submit(buy("leak-1")),
        lambda: broker.submit(buy("leak-3", "SPY", "999")),
        lambda: wrong.account(),
    ]
    for attempt in attempts:
        with pytest.raises(BrokerError) as raised:
            attempt()
        texts.append("".join(traceback.format_exception(raised.value)))
    texts.append(caplog.text)
    assert len(texts) == 8
    for text in texts:
        assert ALPACA_KEY not in text
        assert ALPACA_SECRET not in text


def test_a_429_retry_after_is_waited_out_before_the_retry(alpaca_account, alpaca_server):
    broker = AlpacaBroker(
        alpaca_config(alpaca_server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET
    )
    alpaca_server.inject(ORDERS, rate_limited(retry_after=1.5))
    started = time.monotonic()
    order = broker.submit(OrderRequest("ra-1", "AAPL", "buy", Decimal(1)))
    assert order.status == "filled" and len(alpaca_account.orders_with_client_id("ra-1")) == 1
    assert time.monotonic() - started >= 1.5  # the server's wait, not the client's 0.01 s
