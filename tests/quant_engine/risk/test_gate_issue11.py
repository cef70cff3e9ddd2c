"""Risk gate: the overnight loss, the price check of market orders, exposure of orders whose
outcome is unknown (504, 422 duplicate) until resolved, pruned windows, share limits, and a
state that fails closed when missing for an account that has traded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from quant_engine.brokers.alpaca import AlpacaBroker
from quant_engine.brokers.base import DuplicateClientOrderId, OrderRequest, OutcomeUnknown
from quant_engine.brokers.quotes import Quote
from quant_engine.risk import RiskConfig, RiskGate, RiskStateError, initialise_risk_state
from tests.quant_engine.brokers.conftest import ALPACA_KEY, ALPACA_SECRET, alpaca_config
from tests.quant_engine.risk.test_gate import NOW, Clock, buy, gate, paper, rejection
from tests.stand_ins import alpaca_trading
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.trading_server import Fault, LoopbackServer


def test_an_overnight_loss_counts_against_the_daily_limit(tmp_path: Path) -> None:
    clock = Clock()
    broker = paper(tmp_path, clock)
    risk = gate(tmp_path, clock, broker, max_daily_loss=D(5_000))
    risk.submit(buy("b1", qty=500))  # 50,000 of AAA at 100
    risk.account()  # the evening read: equity about 100,000
    # Overnight AAA gaps down 20%: 10,000 lost before the next day's first read.
    clock.now = NOW + timedelta(days=1)
    broker.set_quotes({"AAA": Quote(D(80), clock.now), "BBB": Quote(D(50), clock.now)})
    risk = gate(tmp_path, clock, broker, max_daily_loss=D(5_000))  # a new run, same state
    risk.account()
    assert risk.kill_switch and "daily loss" in risk.state.kill_reason


def test_a_market_order_decided_far_from_the_last_quote_is_refused(tmp_path: Path) -> None:
    clock = Clock()
    risk = gate(tmp_path, clock, max_price_deviation_pct=D("0.05"))
    stale = OrderRequest("m1", "AAA", "buy", D(10), reference_price=D(120))  # quote 100
    assert "price_deviation" in rejection(risk, stale)
    fresh = OrderRequest("m2", "AAA", "buy", D(10), reference_price=D(101))
    assert risk.submit(fresh).status == "filled"


@pytest.mark.parametrize(
    "faults",
    [
        [alpaca_trading.gateway_timeout(after_accept=False)] * 4,  # 504 past the retries
        [alpaca_trading.gateway_timeout(after_accept=True), Fault()],  # 504, then 422 dup
    ],
    ids=["504", "422-duplicate"],
)
def test_an_order_of_unknown_fate_counts_toward_exposure_until_resolved(
    tmp_path: Path, faults
) -> None:
    prices = {"AAA": D(100)}
    account = AlpacaTradingStandIn(ALPACA_KEY, ALPACA_SECRET, prices=dict(prices))
    account.market_open = False  # orders rest: an accepted one shows only as open
    with LoopbackServer(account) as server:
        broker = AlpacaBroker(
            alpaca_config(server, require_open_market=False),
            api_key=ALPACA_KEY,
            secret_key=ALPACA_SECRET,
        )
        config = RiskConfig(state_path=str(tmp_path / "risk.json"), max_gross_exposure=D(15_000))
        risk = RiskGate(broker, config, now=lambda: account.now)
        risk.update_quotes({"AAA": Quote(D(100), account.now)})
        server.inject(alpaca_trading.ORDERS, *faults)
        with pytest.raises((OutcomeUnknown, DuplicateClientOrderId)):
            risk.submit(OrderRequest("u1", "AAA", "buy", D(100)))  # 10,000
        risk.refresh()  # a fresh snapshot of the broker must not forget it
        with pytest.raises(Exception, match="max_gross_exposure"):
            risk.submit(OrderRequest("u2", "AAA", "buy", D(60)))  # 6,000 more: over 15,000
        found = risk.order_by_client_id("u1")
        if found is None:  # never placed: resolved, its exposure goes
            risk.refresh()
            assert risk.submit(OrderRequest("u3", "AAA", "buy", D(60))).quantity == D(60)
        else:  # placed and open: still counted, through the open orders
            with pytest.raises(Exception, match="max_gross_exposure"):
                risk.submit(OrderRequest("u3", "AAA", "buy", D(60)))


def test_the_dedup_and_rate_windows_are_pruned(tmp_path: Path) -> None:
    clock = Clock()
    risk = gate(tmp_path, clock)
    for i in range(50):
        clock.now = NOW + timedelta(seconds=2 * i)
        risk.submit(buy(f"p{i}", qty=1))
    assert len(risk._recent) <= 1 and len(risk._sent) <= 30


def test_a_per_symbol_share_limit(tmp_path: Path) -> None:
    clock = Clock()
    risk = gate(
        tmp_path,
        clock,
        max_position_quantity=D(100),
        position_quantity_limits={"BBB": D(20)},
    )
    assert "max_position_quantity" in rejection(risk, buy("s1", "BBB", qty=21))
    risk.submit(buy("s2", "BBB", qty=20))
    assert "max_position_quantity" in rejection(risk, buy("s3", "AAA", qty=101))


def test_a_missing_state_of_an_account_that_traded_fails_closed(tmp_path: Path) -> None:
    clock = Clock()
    broker = paper(tmp_path, clock)
    state = tmp_path / "risk.json"
    config = RiskConfig(state_path=str(state), require_state=True)
    with pytest.raises(RiskStateError, match="missing"):
        RiskGate(broker, config, now=clock)
    initialise_risk_state(state, by="ops@example", reason="new state dir", at=NOW.isoformat())
    risk = RiskGate(broker, config, now=clock)
    assert not risk.kill_switch and "initialised by ops@example" in risk.state.events[0]
    with pytest.raises(RiskStateError, match="exists"):
        initialise_risk_state(state, by="ops", reason="again", at=NOW.isoformat())
