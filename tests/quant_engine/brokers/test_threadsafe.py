"""The thread-safe wrapper serializes calls from many threads onto one real Alpaca client."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from quant_engine.brokers.alpaca import AlpacaBroker
from quant_engine.brokers.base import Broker, OrderRequest
from quant_engine.brokers.threadsafe import ThreadSafeBroker
from tests.quant_engine.brokers.conftest import ALPACA_KEY, ALPACA_SECRET, alpaca_config
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.trading_server import LoopbackServer

THREADS, ORDERS_EACH = 8, 5


def _trade(broker: Broker, thread: int) -> None:
    for i in range(ORDERS_EACH):
        broker.submit(OrderRequest(f"t{thread}-o{i}", "AAPL", "buy", Decimal(1)))
        broker.positions()


def _run_threads(broker: Broker) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(_trade, broker, t) for t in range(THREADS)]:
            future.result()


def _patient_broker(server: LoopbackServer) -> AlpacaBroker:
    """A generous timeout: many threads share two cores here."""
    config = alpaca_config(server, timeout_seconds=10.0)
    return AlpacaBroker(config, api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)


def test_calls_from_many_threads_never_overlap(
    alpaca_server: LoopbackServer, alpaca_account: AlpacaTradingStandIn
) -> None:
    alpaca_server.latency = 0.005
    alpaca_broker = _patient_broker(alpaca_server)
    wrapped = ThreadSafeBroker(alpaca_broker)
    assert isinstance(wrapped, Broker) and wrapped.name == alpaca_broker.name
    _run_threads(wrapped)
    assert alpaca_server.max_in_flight == 1
    assert len({o.client_order_id for o in alpaca_account.orders}) == THREADS * ORDERS_EACH
    assert wrapped.positions()["AAPL"].quantity == Decimal(THREADS * ORDERS_EACH)


def test_unwrapped_calls_do_overlap(alpaca_server: LoopbackServer) -> None:
    """The check above can fail: without the wrapper the same load overlaps at the server."""
    alpaca_server.latency = 0.005
    _run_threads(_patient_broker(alpaca_server))
    assert alpaca_server.max_in_flight > 1


def test_hold_keeps_other_threads_out_across_calls(alpaca_broker: AlpacaBroker) -> None:
    wrapped = ThreadSafeBroker(alpaca_broker)
    with ThreadPoolExecutor(1) as pool, wrapped.hold():
        before = wrapped.positions()
        other = pool.submit(wrapped.submit, OrderRequest("other-1", "AAPL", "buy", Decimal(2)))
        wrapped.submit(OrderRequest("mine-1", "AAPL", "buy", Decimal(3)))
        assert not other.done()  # still waiting for the lock
        assert wrapped.positions()["AAPL"].quantity == Decimal(3)
    other.result(timeout=5)
    assert before == {}
    assert wrapped.positions()["AAPL"].quantity == Decimal(5)
