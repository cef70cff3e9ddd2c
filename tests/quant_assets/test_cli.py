"""`quant ui` serves both UIs on loopback, runs "Materialize all" as the UI does, stops cleanly."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date
from pathlib import Path

from dagster_graphql import DagsterGraphQLClient

from quant_assets.defs.market_data.history import seed_history
from quant_assets.resources import MarketDataResource
from tests.conftest import REPO_ROOT, SMALL_MARKET, SMALL_RUN_CONFIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 420.0) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "quant ui exited early"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def _materialize_all_through_the_webserver(
    port: int, last_day: date, timeout: float = 600.0
) -> str:
    """Launch the asset job via GraphQL: queued, then run by the daemon in subprocesses."""
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    tiny = {"min_train_days": 250, "retrain_every": 450, "valid_days": 40, "epochs": 2}
    zoo = {f"alpha_{f}": {"config": tiny} for f in ("mlp", "lstm", "tcn", "transformer")}
    zoo["alpha_ridge"] = {"config": {"min_train_days": 250, "retrain_every": 450}}
    run_config = {
        "ops": {**SMALL_RUN_CONFIG["ops"], **zoo},
        "resources": {"market_data": {"config": SMALL_MARKET}},
    }
    # raw_bars is partitioned by day: the history is in the bar store, the run takes the last day.
    # The rebalance and its reconciliation are partitioned by broker account: their own runs.
    from quant_assets.definitions import defs

    per_account = {"rebalance", "reconciliation"}
    selection = [
        key.to_user_string()
        for key in defs().resolve_all_asset_keys()
        if key.to_user_string() not in per_account
    ]
    run_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name="quant_assets",
        run_config=run_config,
        tags={"dagster/partition": last_day.isoformat()},
        asset_selection=selection,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish within {timeout} s")


def test_quant_ui_serves_both_uis_and_materializes_all(tmp_path: Path):
    dagster_port, mlflow_port = _free_port(), _free_port()
    env = {**os.environ, "QUANT_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    quant = Path(sys.executable).parent / "quant"
    process = subprocess.Popen(
        [str(quant), "ui", "--dagster-port", str(dagster_port), "--mlflow-port", str(mlflow_port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        info = _wait_for(f"http://127.0.0.1:{dagster_port}/server_info", process)
        assert b"dagster_webserver_version" in info
        assert _wait_for(f"http://127.0.0.1:{mlflow_port}/health", process) == b"OK"
        assert (tmp_path / "home" / "dagster" / "dagster.yaml").is_file()
        last_day = seed_history(
            MarketDataResource(**SMALL_MARKET), str(tmp_path / "home" / "assets")
        )
        assert _materialize_all_through_the_webserver(dagster_port, last_day) == "SUCCESS"
        for asset in ("raw_bars", "features", "alpha_model", "alpha_lstm", "signals", "backtest"):
            assert (tmp_path / "home" / "assets" / f"{asset}.parquet").exists()  # raw_bars: a dir
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert f"Dagster UI: http://127.0.0.1:{dagster_port}" in output
        assert f"MLflow UI:  http://127.0.0.1:{mlflow_port}" in output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    for port in (dagster_port, mlflow_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


def test_quant_ui_exits_at_once_naming_a_busy_port(tmp_path: Path):
    """Nothing is started (no state, no server) when a port is taken; one line says which."""
    quant = Path(sys.executable).parent / "quant"
    env = {**os.environ, "QUANT_HOME": str(tmp_path / "home")}
    free = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        for ports in ((busy, free), (free, busy)):
            done = subprocess.run(
                [str(quant), "ui", "--dagster-port", str(ports[0]), "--mlflow-port", str(ports[1])],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 1
            assert done.stdout == ""
            (line,) = done.stderr.splitlines()
            assert f"port {busy} on 127.0.0.1 is in use" in line
    assert not (tmp_path / "home").exists()
