"""Full rebalances through the executor, the real alpaca-py and ccxt clients and our stand-ins.

Faults are injected on order submission (504 after the order landed, a timeout after it landed,
429 before it landed, partial fills). Whatever happens, the stand-in must receive exactly one
order per intent (client order id), reruns must send nothing more, and the account must end at
the targets.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

from quant_engine.brokers.alpaca import AlpacaBroker
from quant_engine.brokers.ccxt import CcxtBroker, make_exchange
from quant_engine.oms import (
    ExecutorConfig,
    OrderJournal,
    RebalanceExecutor,
    RecordingAlerter,
    Targets,
    client_order_id,
)
from tests.quant_engine.brokers.conftest import (
    ALPACA_KEY,
    ALPACA_SECRET,
    BEYOND_TIMEOUT_SECONDS,
    BINANCE_KEY,
    BINANCE_SECRET,
    alpaca_config,
    ccxt_config,
)
from tests.stand_ins import alpaca_trading, binance_spot
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn, Holding
from tests.stand_ins.binance_spot import BinanceSpotStandIn, usdt_markets
from tests.stand_ins.trading_server import Fault, LoopbackServer

DAY = date(2026, 1, 5)


def _executor(broker, journal: OrderJournal, rules=None) -> RebalanceExecutor:
    config = ExecutorConfig(strategy="daily", fill_timeout_seconds=0.2, poll_interval_seconds=0.01)
    return RebalanceExecutor(broker, journal, config, rules=rules, alerter=RecordingAlerter())


def _one_order_per_intent(journal: OrderJournal, client_ids: list[str]) -> None:
    counts = Counter(client_ids)
    assert counts and max(counts.values()) == 1, f"sent twice: {counts.most_common(3)}"
    assert set(counts) == {e.client_order_id for e in journal.all_orders()}


def test_alpaca_rebalance_with_faults_sends_each_intent_once(tmp_path: Path) -> None:
    prices = {"AAPL": Decimal("150.25"), "MSFT": Decimal("400.10"), "SPY": Decimal("500")}
    account = AlpacaTradingStandIn(ALPACA_KEY, ALPACA_SECRET, prices=dict(prices))
    account.positions["MSFT"] = Holding(Decimal(20), Decimal(20) * prices["MSFT"])
    account.partial_fill["SPY"] = Decimal("0.5")
    targets = Targets(DAY, {"AAPL": Decimal(100), "MSFT": Decimal(5), "SPY": Decimal(50)}, prices)
    journal = OrderJournal(tmp_path / "journal.db")
    with LoopbackServer(account) as server:
        broker = AlpacaBroker(alpaca_config(server), api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)
        server.inject(
            alpaca_trading.ORDERS,
            alpaca_trading.gateway_timeout(after_accept=True),  # the MSFT sell lands; 504
            Fault(),  # alpaca-py's own retry: answered 422 duplicate
            alpaca_trading.no_answer(BEYOND_TIMEOUT_SECONDS),  # the AAPL buy lands, unanswered
            *[alpaca_trading.rate_limited() for _ in range(4)],  # the SPY buy: lost
        )
        first = _executor(broker, journal).run(targets)
        assert first.unresolved == [client_order_id("daily", DAY, "SPY", "buy", 0)]
        msft_sell = client_order_id("daily", DAY, "MSFT", "sell", 0)
        posts = [r.json_body["client_order_id"] for r in server.requests_on(alpaca_trading.ORDERS)]
        assert posts.count(msft_sell) == 2  # sent, 504, retried by alpaca-py: 422 duplicate
        assert account.position_qty("SPY") == 0

        assert server.pending_faults(alpaca_trading.ORDERS) == 0  # every fault was met
        second = _executor(broker, journal).run(targets)  # resent under the same id
        assert second.unresolved == []
        assert account.position_qty("SPY") == Decimal(25)  # half filled, the rest working

        account.fill_open_orders()
        posts_before = len(server.requests_on(alpaca_trading.ORDERS))
        third = _executor(broker, journal).run(targets)
        assert third.sent == [] and third.unresolved == []
        assert len(server.requests_on(alpaca_trading.ORDERS)) == posts_before

    _one_order_per_intent(journal, [o.client_order_id for o in account.orders])
    assert {s: h.qty for s, h in account.positions.items()} == targets.quantities


def test_ccxt_rebalance_with_faults_sends_each_intent_once(tmp_path: Path) -> None:
    account = BinanceSpotStandIn(
        BINANCE_KEY,
        BINANCE_SECRET,
        markets=usdt_markets(),
        prices={"BTCUSDT": Decimal("50000"), "ETHUSDT": Decimal("3000")},
        free={"USDT": Decimal("10000"), "ETH": Decimal("1.5")},
    )
    prices = {"BTC/USDT": Decimal("50000"), "ETH/USDT": Decimal("3000")}
    targets = Targets(DAY, {"BTC/USDT": Decimal("0.05"), "ETH/USDT": Decimal("0.5")}, prices)
    journal = OrderJournal(tmp_path / "journal.db")
    with LoopbackServer(account) as server:
        config = ccxt_config(server, symbols=("BTC/USDT", "ETH/USDT"))
        broker = CcxtBroker(make_exchange(config, BINANCE_KEY, BINANCE_SECRET), config)
        rules = {s: broker.rules(s) for s in prices}
        server.inject(
            binance_spot.ORDERS,
            binance_spot.gateway_timeout(after_accept=True),  # the ETH sell lands; 504
            binance_spot.rate_limited(),  # the BTC buy: lost
        )
        first = _executor(broker, journal, rules).run(targets)
        assert first.unresolved == [client_order_id("daily", DAY, "BTC/USDT", "buy", 0)]
        assert account.total("ETH") == Decimal("0.5")

        server.inject(binance_spot.ORDERS, binance_spot.no_answer(BEYOND_TIMEOUT_SECONDS))
        second = _executor(broker, journal, rules).run(targets)  # BTC resent; lands unanswered
        assert second.unresolved == []

        assert server.pending_faults(binance_spot.ORDERS) == 0  # every fault was met
        posts_before = len(server.requests_on(binance_spot.ORDERS))
        restarted = CcxtBroker(make_exchange(config, BINANCE_KEY, BINANCE_SECRET), config)
        third = _executor(restarted, journal, rules).run(targets)
        assert third.sent == []
        assert len(server.requests_on(binance_spot.ORDERS)) == posts_before

    _one_order_per_intent(journal, [o.client_order_id for o in account.orders])
    assert account.total("BTC") == Decimal("0.05")
    assert account.total("ETH") == Decimal("0.5")
    assert account.total("USDT") == Decimal("10000") + Decimal(3000) - Decimal(2500)
