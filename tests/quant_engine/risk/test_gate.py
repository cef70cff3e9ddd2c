"""The risk gate: each limit refuses with its reason; kill switch, REDUCE-only, shadow mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
import sqlalchemy as sa

from quant_engine.brokers.base import Broker, OrderRequest
from quant_engine.brokers.paper import PaperBroker, PaperBrokerConfig, orders_table
from quant_engine.brokers.quotes import Quote
from quant_engine.oms import ExecutorConfig, OrderJournal, RebalanceExecutor, Targets
from quant_engine.risk import RiskConfig, RiskGate, RiskRejected, RiskStateError

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def quotes(at: datetime = NOW, aaa: str = "100", bbb: str = "50") -> dict[str, Quote]:
    return {"AAA": Quote(D(aaa), at), "BBB": Quote(D(bbb), at)}


def paper(tmp: Path, clock: Clock) -> PaperBroker:
    broker = PaperBroker(
        PaperBrokerConfig(database=str(tmp / "paper.db"), initial_cash=D(100_000)), now=clock
    )
    broker.set_quotes(quotes())
    return broker


def gate(tmp: Path, clock: Clock, broker: PaperBroker | None = None, **limits) -> RiskGate:
    config = RiskConfig(state_path=str(tmp / "risk.json"), **limits)
    risk = RiskGate(broker or paper(tmp, clock), config, now=clock)
    risk.update_quotes(quotes(clock.now))
    return risk


def buy(coid: str, symbol: str = "AAA", qty: int = 10, limit: str | None = None):
    if limit is None:
        return OrderRequest(coid, symbol, "buy", D(qty))
    return OrderRequest(coid, symbol, "buy", D(qty), "limit", D(limit))


def sell(coid: str, symbol: str = "AAA", qty: int = 10) -> OrderRequest:
    return OrderRequest(coid, symbol, "sell", D(qty))


def rejection(risk: RiskGate, request: OrderRequest) -> str:
    with pytest.raises(RiskRejected) as refused:
        risk.submit(request)
    assert refused.value.code in str(refused.value)
    assert risk.broker.order_by_client_id(request.client_order_id) is None  # nothing was sent
    return refused.value.code


@pytest.mark.parametrize(
    ("limits", "request_", "code"),
    [
        ({"max_order_value": D(999)}, buy("a"), "max_order_value"),
        ({"max_order_quantity": D(9)}, buy("a"), "max_order_quantity"),
        ({"max_position_value": D(999)}, buy("a"), "max_position_value"),
        ({"max_gross_exposure": D(999)}, buy("a"), "max_gross_exposure"),
        ({"max_positions": 0}, buy("a"), "max_positions"),
        ({"blocked_symbols": frozenset({"AAA"})}, buy("a"), "blocked_symbol"),
        ({"allowed_symbols": frozenset({"BBB"})}, buy("a"), "symbol_not_allowed"),
        ({"max_price_deviation_pct": D("0.05")}, buy("a", limit="106"), "price_deviation"),
        ({"max_price_age_seconds": 60}, buy("a", symbol="ZZZ"), "stale_price"),
        ({"reduce_only": True}, buy("a"), "reduce_only"),
    ],
)
def test_each_limit_refuses_with_its_reason(tmp_path, limits, request_, code):
    assert rejection(gate(tmp_path, Clock(), **limits), request_) == code


def test_limits_pass_what_is_within_them(tmp_path):
    risk = gate(
        tmp_path,
        Clock(),
        max_order_value=D(1100),
        max_position_value=D(2000),
        max_gross_exposure=D(2400),
        max_positions=2,
        max_price_deviation_pct=D("0.05"),
        max_price_age_seconds=60,
    )
    assert isinstance(risk, Broker)
    assert risk.submit(buy("a", limit="104")).status == "filled"
    assert risk.submit(buy("b", qty=9)).status == "filled"
    assert rejection(risk, buy("c", qty=11)) == "max_position_value"  # 30 AAA: 3,000
    assert risk.submit(buy("d", symbol="BBB")).status == "filled"  # gross 2,400
    assert rejection(risk, buy("e", symbol="BBB", qty=1)) == "max_gross_exposure"


def test_stale_prices_rate_limit_and_duplicate_window(tmp_path):
    clock = Clock()
    risk = gate(tmp_path, clock, max_price_age_seconds=60, max_orders_per_minute=2)
    clock.now = NOW + timedelta(seconds=61)
    assert rejection(risk, buy("a")) == "stale_price"
    risk.update_quotes(quotes(clock.now))
    risk.submit(buy("b"))
    assert rejection(risk, buy("c")) == "duplicate_order"  # same order within a second
    risk.submit(buy("d", qty=11))
    clock.now += timedelta(seconds=2)
    assert rejection(risk, buy("e", qty=12)) == "rate_limit"
    clock.now += timedelta(seconds=60)
    risk.update_quotes(quotes(clock.now))
    assert risk.submit(buy("f", qty=12)).status == "filled"


def test_the_kill_switch_trips_on_daily_loss_survives_restart_and_passes_only_reductions(
    tmp_path,
):
    clock = Clock()
    broker = paper(tmp_path, clock)
    risk = gate(tmp_path, clock, broker, max_daily_loss=D(1000))
    risk.account()  # the day's baseline: 100,000
    risk.submit(buy("a", qty=100))
    broker.set_quotes(quotes(aaa="85"))  # 100 AAA lose 1,500
    risk.update_quotes(quotes(aaa="85"))
    risk.account()
    assert risk.kill_switch and "daily loss" in risk.state.kill_reason

    restarted = gate(tmp_path, clock, broker, max_daily_loss=D(1000))
    restarted.update_quotes(quotes(aaa="85"))
    assert restarted.kill_switch
    assert rejection(restarted, buy("b", symbol="BBB")) == "kill_switch"
    assert rejection(restarted, sell("c", qty=101)) == "kill_switch"  # would flip to short
    assert restarted.submit(sell("d", qty=40)).status == "filled"  # reduces: passes
    clock.now += timedelta(days=1)  # a new day keeps the switch tripped
    restarted.account()
    assert restarted.kill_switch
    restarted.reset_kill_switch("reviewed")
    assert gate(tmp_path, clock, broker).submit(buy("e", symbol="BBB")).status == "filled"


def test_drawdown_trips_the_kill_switch(tmp_path):
    clock = Clock()
    broker = paper(tmp_path, clock)
    risk = gate(tmp_path, clock, broker, max_drawdown_pct=D("0.01"))
    risk.submit(buy("a", qty=500))
    broker.set_quotes(quotes(aaa="97"))
    risk.account()
    assert risk.kill_switch and "drawdown" in risk.state.kill_reason


def test_an_unreadable_state_file_stops_the_gate(tmp_path):
    (tmp_path / "risk.json").write_text("{not json")
    with pytest.raises(RiskStateError, match=r"risk\.json"):
        gate(tmp_path, Clock())


def paper_orders(broker: PaperBroker) -> int:
    with broker.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(orders_table)).scalar_one()


def test_shadow_mode_sends_nothing_and_keeps_a_consistent_virtual_book(tmp_path):
    clock = Clock()
    broker = paper(tmp_path, clock)
    risk = gate(tmp_path, clock, broker, shadow_mode=True, shadow_initial_cash=D(50_000))
    journal = OrderJournal(tmp_path / "journal.db")
    targets = Targets(NOW.date(), {"AAA": D(100), "BBB": D(200)}, {"AAA": D(100), "BBB": D(50)})
    executor = RebalanceExecutor(
        risk, journal, ExecutorConfig(strategy="shadow", fill_timeout_seconds=0)
    )
    report = executor.run(targets)
    assert len(report.sent) == 2 and paper_orders(broker) == 0
    assert broker.positions() == {} and broker.account().cash == D(100_000)
    book = {s: p.quantity for s, p in risk.positions().items()}
    assert book == {"AAA": D(100), "BBB": D(200)}
    assert risk.account().cash == D(50_000) - 100 * D(100) - 200 * D(50)
    assert all(e.status == "filled" for e in journal.orders("shadow", NOW.date()))

    restarted = gate(tmp_path, clock, broker, shadow_mode=True, shadow_initial_cash=D(50_000))
    assert {s: p.quantity for s, p in restarted.positions().items()} == book
    again = RebalanceExecutor(
        restarted, journal, ExecutorConfig(strategy="shadow", fill_timeout_seconds=0)
    ).run(targets)
    assert again.sent == [] and paper_orders(broker) == 0
    smaller = Targets(targets.trading_day, {"AAA": D(40)}, targets.prices)
    RebalanceExecutor(
        restarted, journal, ExecutorConfig(strategy="shadow", fill_timeout_seconds=0)
    ).run(smaller)
    assert {s: p.quantity for s, p in restarted.positions().items()} == {"AAA": D(40)}
    assert paper_orders(broker) == 0


def test_an_open_buy_does_not_make_a_larger_sale_count_as_reducing(tmp_path):
    clock = Clock()
    broker = PaperBroker(
        PaperBrokerConfig(
            database=str(tmp_path / "paper.db"), initial_cash=D(100_000), fill_ratio=D("0.5")
        ),
        now=clock,
    )
    broker.set_quotes(quotes())
    risk = gate(tmp_path, clock, broker)
    risk.submit(buy("a", qty=200))  # 100 filled, 100 still open
    risk.trip_kill_switch("manual")
    risk.refresh()
    assert rejection(risk, sell("b", qty=150)) == "kill_switch"  # more than the 100 held
    assert risk.submit(sell("c", qty=100)).filled_quantity == D(50)  # passed; half fills
