"""The daily rebalance end to end under a Dagster daemon: an accounts file naming an Alpaca
account (loopback stand-in, through alpaca-py) and a binance account (loopback, through ccxt);
the sensor and the fallback schedule switched on; the day's targets land in the evening.

Exactly one rebalance run per account; the Alpaca orders arrive as market-on-open orders, the
crypto orders fill at once; a rerun sends nothing; after the open the reconciliation reports
the slippage against the open price. A rebalance SIGKILLed after its third order does not lock
the account: the next run completes within minutes and sends no duplicate."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml
from dagster_graphql import DagsterGraphQLClient

from quant_assets.defs.live.watchdog import _worker_pid
from quant_engine.data.store import BarStore
from tests.conftest import REPO_ROOT
from tests.quant_assets.test_cli import _free_port, _wait_for
from tests.quant_engine.brokers.conftest import BINANCE_SPOT_OPTIONS
from tests.stand_ins.alpaca_trading import ORDERS, AlpacaTradingStandIn
from tests.stand_ins.binance_spot import BinanceSpotStandIn, usdt_markets
from tests.stand_ins.trading_server import Fault, LoopbackServer

ALPACA_KEY, ALPACA_SECRET = "PKDAEMONKEY0000000042", "alpaca-daemon-secret-42"
BINANCE_KEY, BINANCE_SECRET = "binance-daemon-key-42", "binance-daemon-secret-42"
DAY = date(2026, 1, 5)  # a Monday; targets land after its close, the trade is at the 6th's open
CLOSES = {"AAPL": 150.0, "MSFT": 400.0, "BTC/USDT": 50000.0, "ETH/USDT": 3000.0}
OPENS = {"AAPL": 151.5, "MSFT": 398.0, "BTC/USDT": 50100.0, "ETH/USDT": 3010.0}
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": "quant_assets"}


def _bars(day: date, prices: dict[str, float]) -> pl.DataFrame:
    stamp = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pl.DataFrame(
        {
            "symbol": list(prices),
            "timestamp": [stamp] * len(prices),
            "open": list(prices.values()),
            "high": list(prices.values()),
            "low": list(prices.values()),
            "close": list(prices.values()),
            "volume": [1e6] * len(prices),
        }
    )


def _start(client: DagsterGraphQLClient, kind: str, name: str) -> None:
    if kind == "sensor":
        query = "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename } }"
        variables = {"s": {**REPOSITORY, "sensorName": name}}
    else:
        query = (
            "mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { __typename } }"
        )
        variables = {"s": {**REPOSITORY, "scheduleName": name}}
    answer = client._execute(query, variables)
    assert "Error" not in str(answer), answer


def _runs(instance: dg.DagsterInstance, job: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(job_name=job)))


def _wait_done(instance: dg.DagsterInstance, job: str, count: int, timeout: float = 600):
    deadline = time.monotonic() + timeout
    runs: list[dg.DagsterRun] = []
    while time.monotonic() < deadline:
        runs = _runs(instance, job)
        if len(runs) >= count and all(r.is_finished for r in runs):
            return runs
        time.sleep(2)
    raise AssertionError(f"{job}: {[(r.run_id, r.status) for r in runs]} after {timeout}s")


def _materialization(instance: dg.DagsterInstance, run_id: str, asset: str) -> dict:
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        if materialization and materialization.asset_key == dg.AssetKey(asset):
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"no {asset} materialization in run {run_id}")


@contextlib.contextmanager
def _daemon(tmp_path: Path, monkeypatch, home: Path, accounts: dict):
    """``dagster dev`` (webserver and daemon) on the accounts, with the keys in its environment;
    yields a GraphQL client and the instance."""
    (home / "accounts.yaml").write_text(yaml.safe_dump({"accounts": accounts}))
    env = {
        **os.environ,
        "QUANT_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "APCA_API_KEY_ID": ALPACA_KEY,
        "APCA_API_SECRET_KEY": ALPACA_SECRET,
        "CCXT_API_KEY": BINANCE_KEY,
        "CCXT_SECRET": BINANCE_SECRET,
    }
    env.pop("QUANT_ACCOUNTS", None)
    for key in ("QUANT_HOME", "DAGSTER_HOME"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("QUANT_ACCOUNTS", raising=False)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: quant_assets.definitions\n"
        f"      location_name: quant_assets\n      working_directory: {REPO_ROOT}\n"
    )
    port = _free_port()
    dagster = Path(sys.executable).parent / "dagster"
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/server_info", process)
        with dg.DagsterInstance.get() as instance:
            yield DagsterGraphQLClient("127.0.0.1", port_number=port), instance
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
    return home


def test_the_daemon_rebalances_each_configured_account_once(tmp_path: Path, monkeypatch):
    home = _home(tmp_path)
    assets = home / "assets"
    store = BarStore(assets / "raw_bars.parquet")
    history = [DAY - timedelta(days=d) for d in (3, 2, 1)] + [DAY]  # a weekend in between
    store.write(pl.concat([_bars(d, CLOSES) for d in history]), days=history)
    targets = pl.DataFrame(
        {
            "trading_day": [DAY] * 4,
            "symbol": list(CLOSES),
            "weight": [0.4, 0.4, 0.3, 0.3],
            "price": list(CLOSES.values()),
        }
    )
    targets.write_parquet(assets / "target_portfolio.parquet")

    alpaca = AlpacaTradingStandIn(
        ALPACA_KEY,
        ALPACA_SECRET,
        prices={s: Decimal(str(CLOSES[s])) for s in ("AAPL", "MSFT")},
        cash=Decimal(100_000),
        market_open=False,
        now=datetime(2026, 1, 6, 1, 0, tzinfo=UTC),  # 20:00 in New York: OPG orders accepted
    )
    binance = BinanceSpotStandIn(
        BINANCE_KEY,
        BINANCE_SECRET,
        markets=usdt_markets(),
        prices={"BTCUSDT": Decimal("50000.00"), "ETHUSDT": Decimal("3000.00")},
        free={"USDT": Decimal(10_000)},
    )
    with LoopbackServer(alpaca) as alpaca_server, LoopbackServer(binance) as binance_server:
        accounts = {
            "alpaca": {
                "kind": "alpaca",
                "dry_run": False,
                "alpaca_url_override": alpaca_server.url,
                "universe": ["AAPL", "MSFT"],
                "fill_timeout_seconds": 1.0,
            },
            "binance": {
                "kind": "ccxt",
                "dry_run": False,
                "ccxt_api_url": binance_server.url,
                "ccxt_options": BINANCE_SPOT_OPTIONS,
                "universe": ["BTC/USDT", "ETH/USDT"],
                "lot_size": 0.0001,
                "fill_timeout_seconds": 1.0,
            },
        }
        with _daemon(tmp_path, monkeypatch, home, accounts) as (client, instance):
            _start(client, "sensor", "rebalance_on_targets")
            _start(client, "schedule", "rebalance_fallback_schedule")
            instance.report_runless_asset_event(
                dg.AssetMaterialization("target_portfolio", metadata={"trading_day": str(DAY)})
            )
            runs = _wait_done(instance, "rebalance_job", 2)
            time.sleep(40)  # a few more sensor ticks: still one run per account
            runs = _wait_done(instance, "rebalance_job", 2)
            assert sorted(r.tags["quant/broker_account"] for r in runs) == [
                "alpaca",
                "binance",
            ]
            assert all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
            by_account = {r.tags["quant/broker_account"]: r for r in runs}
            sent = _materialization(instance, by_account["alpaca"].run_id, "rebalance")
            assert sent["n_sent"] == 2 and sent["order_timing"] == "market_on_open"
            assert {o.time_in_force for o in alpaca.orders} == {"opg"}
            assert all(o.is_open for o in alpaca.orders)  # waiting for the auction
            crypto = _materialization(instance, by_account["binance"].run_id, "rebalance")
            assert crypto["n_sent"] == 2 and crypto["n_filled"] == 2
            assert binance.total("BTC") > 0 and binance.total("ETH") > 0

            # The open: the auction fills the OPG orders; the day's bars arrive.
            alpaca.now = datetime(2026, 1, 6, 14, 30, tzinfo=UTC)
            alpaca.open_auction({s: Decimal(str(OPENS[s])) for s in ("AAPL", "MSFT")})
            store.write(_bars(DAY + timedelta(days=1), OPENS), days=[DAY + timedelta(1)])
            reconcile = client.submit_job_execution(
                "reconcile_job",
                repository_location_name="quant_assets",
                tags={"dagster/partition": "alpaca"},
            )
            [done] = [r for r in _wait_done(instance, "reconcile_job", 1) if r.run_id == reconcile]
            assert done.is_success
            report = _materialization(instance, reconcile, "reconciliation")
            assert report["n_off_target"] == 0 and report["n_waiting"] == 0
            assert report["slippage_vs_open_bps"] == pytest.approx(0.0, abs=1e-6)

            rerun = client.submit_job_execution(
                "rebalance_job",
                repository_location_name="quant_assets",
                tags={"dagster/partition": "alpaca"},
            )
            _wait_done(instance, "rebalance_job", 3)
            assert _materialization(instance, rerun, "rebalance")["n_sent"] == 0
            assert len({o.client_order_id for o in alpaca.orders}) == len(alpaca.orders)


def test_a_rebalance_killed_after_its_third_order_does_not_lock_the_account(
    tmp_path: Path, monkeypatch
):
    symbols = {"AAPL": 150.0, "MSFT": 400.0, "SPY": 500.0, "XOM": 110.0}
    home = _home(tmp_path)
    store = BarStore(home / "assets" / "raw_bars.parquet")
    store.write(_bars(DAY, symbols), days=[DAY])
    pl.DataFrame(
        {
            "trading_day": [DAY] * 4,
            "symbol": list(symbols),
            "weight": [0.2] * 4,
            "price": list(symbols.values()),
        }
    ).write_parquet(home / "assets" / "target_portfolio.parquet")
    alpaca = AlpacaTradingStandIn(
        ALPACA_KEY,
        ALPACA_SECRET,
        prices={s: Decimal(str(p)) for s, p in symbols.items()},
        cash=Decimal(100_000),
    )
    with LoopbackServer(alpaca) as server:
        # The fourth order lands, and its answer never comes: the run is killed meanwhile.
        server.inject(ORDERS, Fault(), Fault(), Fault(), Fault(after_accept=True, delay=900))
        accounts = {
            "alpaca": {
                "kind": "alpaca",
                "dry_run": False,
                "alpaca_url_override": server.url,
                "alpaca_timeout_seconds": 900.0,
                "order_timing": "when_open",
                "fill_timeout_seconds": 1.0,
            }
        }
        with _daemon(tmp_path, monkeypatch, home, accounts) as (client, instance):
            instance.add_dynamic_partitions("broker_account", ["alpaca"])
            first = client.submit_job_execution(
                "rebalance_job",
                repository_location_name="quant_assets",
                tags={"dagster/partition": "alpaca"},
            )
            deadline = time.monotonic() + 600
            while len(alpaca.orders) < 4 and time.monotonic() < deadline:
                time.sleep(1)
            assert len(alpaca.orders) == 4, "the run did not reach its fourth order"
            pid = _worker_pid(instance, first)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            second = client.submit_job_execution(
                "rebalance_job",
                repository_location_name="quant_assets",
                tags={"dagster/partition": "alpaca"},
            )
            while time.monotonic() < killed_at + 600:
                run = instance.get_run_by_id(second)
                if run is not None and run.is_finished:
                    break
                time.sleep(2)
            recovered = time.monotonic() - killed_at
            assert instance.get_run_by_id(first).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(second).is_success
            assert recovered < 300, f"the account was held {recovered:.0f}s"
            ids = [o.client_order_id for o in alpaca.orders]
            assert len(ids) == len(set(ids)) == 4  # the fourth was looked up, not resent
            assert _materialization(instance, second, "rebalance")["n_sent"] == 0
