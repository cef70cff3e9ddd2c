"""The live rebalance in Dagster: targets, orders (dry-run and paper), reconciliation, the
sensor's one run per day, and API keys that never reach logs, journal or metadata."""

import contextlib
import http.server
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest
import sqlalchemy as sa

from quant_assets.defs.live.assets import rebalance, reconciliation, target_portfolio
from quant_assets.defs.live.jobs import ACCOUNT_TAG, DAY_TAG
from quant_assets.defs.live.schedules import rebalance_fallback_schedule
from quant_assets.defs.live.sensors import rebalance_failure_alert, rebalance_on_targets
from quant_assets.resources import (
    BarStoreIOManager,
    IngestedBars,
    PolarsParquetIOManager,
    PortfolioResource,
)
from quant_assets.resources.broker import BrokerResource
from quant_engine.brokers.paper import orders_table
from quant_engine.oms import OrderJournal
from tests.stand_ins.alpaca_trading import AlpacaTradingStandIn
from tests.stand_ins.trading_server import LoopbackServer

NEW_YORK = ZoneInfo("America/New_York")
SYMBOLS = ["AAPL", "MSFT", "SPY", "XOM"]
DAYS = [datetime(2026, 1, 2, tzinfo=UTC) + timedelta(days=i) for i in range(3)]
CLOSES = {"AAPL": 150.25, "MSFT": 400.10, "SPY": 500.0, "XOM": 110.0}


class MarketInput(dg.Config):
    days: int = 3  # how many days of bars and signals exist
    flipped: bool = False  # on the last day, rank the names the other way round


@dg.asset(name="raw_bars", io_manager_key="bar_store_io_manager")
def bars_input(config: MarketInput) -> IngestedBars:
    """Daily bars into the bar store; the last day's closes are the decision prices."""
    rows = [
        {
            "symbol": s,
            "timestamp": DAYS[0] + timedelta(days=i),
            **dict.fromkeys(("open", "high", "low", "close"), CLOSES[s] * (1 + 0.01 * (i - 2))),
            "volume": 1e6,
        }
        for i in range(config.days)
        for s in SYMBOLS
    ]
    days = [(DAYS[0] + timedelta(days=i)).date() for i in range(config.days)]
    return IngestedBars(pl.DataFrame(rows), days)


@dg.asset(name="signals")
def signals_input(config: MarketInput) -> pl.DataFrame:
    """Scores ranking AAPL > MSFT > SPY > XOM (the reverse on a flipped last day)."""
    rank = {"AAPL": 0.3, "MSFT": 0.2, "SPY": 0.1, "XOM": 0.05}
    rows = []
    for i in range(config.days):
        flip = config.flipped and i == config.days - 1
        for s in SYMBOLS:
            score = -rank[s] if flip else rank[s]
            rows.append({"timestamp": DAYS[0] + timedelta(days=i), "symbol": s, "score": score})
    return pl.DataFrame(rows)


def run_live(
    home: Path,
    broker: BrokerResource,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    portfolio: PortfolioResource | None = None,
    **market: object,
):
    market_config = {"config": dict(market)}
    instance = instance or dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("broker_account", [broker.label])
    return dg.materialize(
        [bars_input, signals_input, target_portfolio, rebalance, reconciliation],
        resources={
            "broker": broker,
            "portfolio": portfolio or PortfolioResource(top_k=2),
            "io_manager": PolarsParquetIOManager(base_dir=str(home)),
            "bar_store_io_manager": BarStoreIOManager(base_dir=str(home)),
        },
        run_config={
            "ops": {
                "raw_bars": market_config,
                "signals": market_config,
            }
        },
        instance=instance,
        partition_key=broker.label,
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    [event] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in event.metadata.items()}


def paper_order_count(broker: BrokerResource) -> int:
    engine = OrderJournal(broker.database_url()).engine
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(orders_table)).scalar_one()


def test_dry_run_lists_orders_and_sends_nothing(quant_home, tmp_path):
    broker = BrokerResource()  # the defaults: paper and dry-run
    result = run_live(tmp_path / "assets", broker)
    targets = metadata(result, "target_portfolio")
    assert targets["trading_day"] == "2026-01-04" and targets["n_names"] == 2
    schema = targets["dagster/column_schema"].columns
    assert [c.name for c in schema] == ["trading_day", "symbol", "score", "weight", "price"]
    assert [c.type for c in schema][-2:] == ["Float64", "Float64"] and "short" in schema[
        3
    ].description
    orders = metadata(result, "rebalance")
    assert orders["dry_run"] is True and orders["n_orders"] == 2 and orders["n_sent"] == 0
    frame = result.output_for_node("rebalance")
    assert frame.filter(pl.col("side").is_not_null())["symbol"].to_list() == ["AAPL", "MSFT"]
    assert OrderJournal(broker.database_url()).all_orders() == []
    assert paper_order_count(broker) == 0


def test_paper_rebalance_reaches_targets_and_a_second_run_sends_nothing(quant_home, tmp_path):
    broker = BrokerResource(dry_run=False, paper_initial_cash=100_000.0)
    first = run_live(tmp_path / "assets", broker)
    sent = metadata(first, "rebalance")
    assert sent["n_sent"] == 2 and sent["n_rejected"] == 0 and sent["broker"] == "paper-paper"
    check = metadata(first, "reconciliation")
    assert check["n_off_target"] == 0 and check["n_unexplained"] == 0
    assert check["slippage_cost"] > 0  # paid the spread and impact of the cost model
    table = first.output_for_node("reconciliation")
    held = table.filter(pl.col("position_quantity") != 0)["symbol"].to_list()
    assert held == ["AAPL", "MSFT"]
    # half of the equity less the 0.5% cash buffer each, at the decision price, whole shares
    assert table.filter(pl.col("symbol") == "AAPL")["target_quantity"][0] == 49_750 // 150.25

    second = run_live(tmp_path / "assets", broker)
    assert metadata(second, "rebalance")["n_sent"] == 0
    assert metadata(second, "reconciliation")["n_off_target"] == 0
    assert paper_order_count(broker) == 2


def test_the_rebalance_plans_with_the_portfolio_rules_of_the_backtest(quant_home, tmp_path):
    """Minimum trade value and dust weight, read from the one portfolio config, hold live too."""
    small = run_live(
        tmp_path / "small",
        BrokerResource(),
        portfolio=PortfolioResource(top_k=2, min_trade_value=6e5),
    )
    assert metadata(small, "rebalance")["n_orders"] == 0  # 2 buys of ~500,000 each: too small
    broker = BrokerResource(dry_run=False, paper_initial_cash=100_000.0)
    run_live(tmp_path / "assets", broker)
    dust = PortfolioResource(top_k=2, dust_weight=0.6)  # the new targets' 0.5 each is dust
    next_day = run_live(tmp_path / "assets", broker, portfolio=dust, days=4, flipped=True)
    frame = next_day.output_for_node("rebalance").filter(pl.col("side").is_not_null())
    assert dict(zip(frame["symbol"], frame["side"], strict=True)) == {
        "AAPL": "sell",
        "MSFT": "sell",
    }
    table = next_day.output_for_node("reconciliation")
    assert table.filter(pl.col("position_quantity") != 0).is_empty()


def test_the_next_day_sells_before_it_buys_and_ends_at_the_new_targets(quant_home, tmp_path):
    broker = BrokerResource(dry_run=False, paper_initial_cash=100_000.0)
    run_live(tmp_path / "assets", broker)
    next_day = run_live(tmp_path / "assets", broker, days=4, flipped=True)
    frame = next_day.output_for_node("rebalance")
    sides = dict(zip(frame["symbol"], frame["side"], strict=True))
    assert sides == {"AAPL": "sell", "MSFT": "sell", "SPY": "buy", "XOM": "buy"}
    assert set(frame["status"].to_list()) == {"filled"}
    journal = OrderJournal(broker.database_url())
    day_orders = journal.orders("daily", DAYS[0].date() + timedelta(days=3))
    sells = [e.updated_at for e in day_orders if e.side == "sell"]
    buys = [e.created_at for e in day_orders if e.side == "buy"]
    assert max(sells) <= min(buys)  # every sell finished before the first buy was written
    table = next_day.output_for_node("reconciliation")
    assert table.filter(pl.col("position_quantity") != 0)["symbol"].to_list() == ["SPY", "XOM"]
    assert metadata(next_day, "reconciliation")["n_off_target"] == 0


@pytest.fixture
def stack():
    with contextlib.ExitStack() as exits:
        yield exits


def _evaluate(instance, definition, cursor=None):
    from quant_assets.definitions import defs

    repository = defs().get_repository_def()
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        if isinstance(definition, dg.ScheduleDefinition):
            context = dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=datetime(2026, 1, 5, 20, 0, tzinfo=NEW_YORK),
                repository_def=repository,
            )
            return definition.evaluate_tick(context)
        return definition.evaluate_tick(
            dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository)
        )


def _accounts_file(path: Path, monkeypatch, accounts: dict) -> None:
    import yaml

    path.write_text(yaml.safe_dump({"accounts": accounts}))
    monkeypatch.setenv("QUANT_ACCOUNTS", str(path))


def test_one_materialization_starts_exactly_one_rebalance_run_per_account(
    quant_home, tmp_path, monkeypatch, stack
):
    _accounts_file(
        tmp_path / "accounts.yaml",
        monkeypatch,
        {"paper-a": {"kind": "paper"}, "paper-b": {"kind": "paper", "paper_account": "b"}},
    )
    instance = stack.enter_context(dg.instance_for_test())
    instance.report_runless_asset_event(
        dg.AssetMaterialization("target_portfolio", metadata={"trading_day": "2026-01-05"})
    )
    first = _evaluate(instance, rebalance_on_targets)
    assert [r.run_key for r in first.run_requests] == [
        "rebalance-paper-a-2026-01-05",
        "rebalance-paper-b-2026-01-05",
    ]
    assert [r.partition_key for r in first.run_requests] == ["paper-a", "paper-b"]
    assert first.run_requests[0].tags[ACCOUNT_TAG] == "paper-a"
    assert _evaluate(instance, rebalance_on_targets, first.cursor).run_requests == []
    # The sensor's runs exist: the fallback schedule asks for no second run of the day.
    from quant_assets.definitions import defs

    job = defs().resolve_job_def("rebalance_job")
    for request in first.run_requests:
        instance.create_run_for_job(job, tags=request.tags)
    assert _evaluate(instance, rebalance_fallback_schedule).run_requests == []


def test_the_fallback_schedule_requests_what_the_sensor_did_not(
    quant_home, tmp_path, monkeypatch, stack
):
    _accounts_file(tmp_path / "accounts.yaml", monkeypatch, {"paper-a": {"kind": "paper"}})
    instance = stack.enter_context(dg.instance_for_test())
    [request] = _evaluate(instance, rebalance_fallback_schedule).run_requests
    assert request.partition_key == "paper-a"
    assert request.tags[DAY_TAG] == "2026-01-05"


def test_the_sensor_and_schedule_are_stopped_and_the_job_uses_one_pool():
    from quant_assets.definitions import defs

    definitions = defs()
    sensor = definitions.resolve_sensor_def("rebalance_on_targets")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    schedule = definitions.resolve_schedule_def("rebalance_fallback_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    # The two that only report and release run by default, as the README says.
    for name in ("rebalance_failure_alert", "trading_run_watchdog"):
        assert definitions.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    after_open = definitions.resolve_schedule_def("reconcile_after_open_schedule")
    assert after_open.default_status == dg.DefaultScheduleStatus.STOPPED
    job = definitions.resolve_job_def("rebalance_job")
    pools = {node.definition.pool for node in job.graph.node_dict.values()}
    assert pools == {"broker_account"}
    assert BrokerResource().dry_run is True and BrokerResource().kind == "paper"


ALPACA_KEY = "PKSECRETSCANKEY7777777"
ALPACA_SECRET = "alpaca-secret-scan-0d1e2f3a4b5c6d7e"


@pytest.fixture
def alpaca_server():
    account = AlpacaTradingStandIn(
        api_key=ALPACA_KEY,
        secret_key=ALPACA_SECRET,
        prices={s: Decimal(str(p)) for s, p in CLOSES.items()},
        cash=Decimal(100_000),
    )
    with LoopbackServer(account) as server:
        yield account, server


def test_api_keys_never_reach_logs_journal_or_dagster_metadata(
    quant_home, tmp_path, monkeypatch, caplog, capfd, alpaca_server
):
    account, server = alpaca_server
    monkeypatch.setenv("APCA_API_KEY_ID", ALPACA_KEY)
    monkeypatch.setenv("APCA_API_SECRET_KEY", ALPACA_SECRET)
    broker = BrokerResource(
        kind="alpaca", dry_run=False, alpaca_url_override=server.url, order_timing="when_open"
    )
    instance = dg.DagsterInstance.ephemeral()
    with caplog.at_level(logging.DEBUG):
        result = run_live(tmp_path / "assets", broker, instance)
    assert metadata(result, "rebalance")["n_sent"] == 2
    assert account.position_qty("AAPL") > 0  # the orders really went through alpaca-py

    haystacks = [caplog.text, *capfd.readouterr()]
    for record in instance.all_logs(result.run_id):
        haystacks.append(str(record))
    for entry in OrderJournal(broker.database_url()).all_orders():
        haystacks.append(repr(entry))
    haystacks.append(str(instance.get_run_by_id(result.run_id)))
    for path in Path(quant_home).rglob("*"):
        if path.is_file():
            haystacks.append(path.read_bytes().decode("latin-1"))
    for path in (tmp_path / "assets").rglob("*"):
        if path.is_file():
            haystacks.append(path.read_bytes().decode("latin-1"))
    assert len(haystacks) > 10
    assert any("alpaca-paper" in h for h in haystacks)  # the run's metadata was scanned
    for secret in (ALPACA_KEY, ALPACA_SECRET):
        assert not [h[:80] for h in haystacks if secret in h]


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_failed_rebalance_run_is_logged_and_posted_to_the_webhook(
    quant_home, tmp_path, monkeypatch, caplog
):
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/alerts"
        broker = BrokerResource(kind="alpaca", dry_run=False, alert_webhook_url=url)
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("broker_account", [broker.label])
        failed = dg.materialize(
            [bars_input, signals_input, target_portfolio, rebalance],
            resources={
                "broker": broker,
                "portfolio": PortfolioResource(),
                "io_manager": PolarsParquetIOManager(base_dir=str(tmp_path)),
                "bar_store_io_manager": BarStoreIOManager(base_dir=str(tmp_path)),
            },
            instance=instance,
            raise_on_error=False,
            partition_key=broker.label,
        )
        assert not failed.success
        context = dg.build_run_status_sensor_context(
            sensor_name="rebalance_failure_alert",
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(failed.run_id),
            dagster_event=failed.get_run_failure_event(),
        ).for_run_failure()
        with caplog.at_level(logging.ERROR):
            rebalance_failure_alert(context, broker=broker)
    finally:
        server.shutdown()
        thread.join()
    [alert] = _Webhook.received
    assert alert["subject"] == "rebalance failed" and failed.run_id in alert["detail"]
    assert failed.run_id in caplog.text
