"""The production profile on the machine's real PostgreSQL: Dagster storage, MLflow and the
daemon (queued runs, schedules) all on PostgreSQL, with no code change from the local profile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from dagster_graphql import DagsterGraphQLClient
from mlflow.tracking import MlflowClient

from quant_assets.defs.live.assets import POOL
from quant_assets.defs.market_data.partitions import backfill_tags
from quant_assets.profile import DATABASES, DeploymentProfile, ensure_databases
from quant_assets.resources import MarketDataResource
from tests.conftest import REPO_ROOT, SMALL_MARKET, materialize_pipeline
from tests.quant_assets.test_cli import _free_port, _wait_for

SERVER = os.environ.get("QUANT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
OVERRIDES = {
    "dagster": "QUANT_DAGSTER_DB_URL",
    "mlflow": "QUANT_MLFLOW_URL",
    "journal": "QUANT_JOURNAL_URL",
}


def _reachable() -> str | None:
    engine = sqlalchemy.create_engine(
        f"{SERVER}/postgres".replace("postgresql://", "postgresql+psycopg2://"),
        connect_args={"connect_timeout": 3},
    )
    try:
        with engine.connect():
            return None
    except Exception as exc:
        return str(exc).strip().splitlines()[0]
    finally:
        engine.dispose()


UNREACHABLE = _reachable()
pytestmark = pytest.mark.skipif(
    UNREACHABLE is not None,
    reason=f"PostgreSQL at {SERVER} is not reachable ({UNREACHABLE}); "
    "set QUANT_TEST_POSTGRES_URL to run the production-profile tests",
)


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Environment of a production deployment with its own throw-away databases."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        "QUANT_PROFILE": "production",
        "QUANT_HOME": str(tmp_path / "home"),
        **{var: f"{SERVER}/qt_{suffix}_{role}" for role, var in OVERRIDES.items()},
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    profile = DeploymentProfile.from_env()
    assert sorted(ensure_databases(profile)) == sorted(f"qt_{suffix}_{r}" for r in DATABASES)
    profile.home.ensure()
    profile.export()
    profile.install_instance()
    yield profile, env
    admin = sqlalchemy.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for role in DATABASES:
            connection.execute(
                sqlalchemy.text(f'DROP DATABASE IF EXISTS "qt_{suffix}_{role}" WITH (FORCE)')
            )
    admin.dispose()


def test_the_whole_graph_materializes_on_postgresql(production):
    profile, _ = production
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = materialize_pipeline(profile.home.root, instance=instance)
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.is_success
        assert instance.get_latest_materialization_event(dg.AssetKey("backtest")) is not None

    client = MlflowClient(profile.mlflow_tracking_uri)
    assert profile.mlflow_tracking_uri.startswith("postgresql")
    runs = client.search_runs(
        [client.get_experiment_by_name("quant-alpha").experiment_id],
        filter_string=f"tags.`dagster.run_id` = '{result.run_id}'",
    )
    assert runs and "backtest.long_short.sharpe" in {m for r in runs for m in r.data.metrics}
    champion = client.get_model_version_by_alias("quant_alpha", "champion")
    assert champion.run_id in {r.info.run_id for r in runs}
    assert (profile.home.mlflow_artifacts).is_dir()  # artifacts beside, not in ./mlruns


def test_the_daemon_runs_queued_runs_and_schedules_on_postgresql(production, tmp_path):
    profile, _ = production
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: quant_assets.definitions\n"
        "      location_name: quant_assets\n"
        f"      working_directory: {REPO_ROOT}\n"
        "  - python_file:\n"
        f"      relative_path: {Path(__file__).parent / 'heartbeat_location.py'}\n"
        "      location_name: heartbeat\n"
    )
    port = _free_port()
    dagster = Path(sys.executable).parent / "dagster"
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=dict(os.environ),  # the profile as `quant` exports it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/server_info", process)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        market = MarketDataResource(**SMALL_MARKET)
        run_ids = [
            client.submit_job_execution(
                "__ASSET_JOB",
                repository_location_name="quant_assets",
                run_config={"resources": {"market_data": {"config": SMALL_MARKET}}},
                tags=backfill_tags(market),
                asset_selection=["raw_bars", "features"],
            )
            for _ in range(4)
        ]
        deadline = time.monotonic() + 600
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = {r: client.get_run_status(r).value for r in run_ids}
            if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in statuses.values()):
                break
            time.sleep(2)
        assert set(statuses.values()) == {"SUCCESS"}, statuses

        deadline = time.monotonic() + 150  # the next minute boundary, plus the launch
        with dg.DagsterInstance.get() as instance:
            scheduled: list = []
            while time.monotonic() < deadline and not scheduled:
                scheduled = [
                    run
                    for run in instance.get_runs(
                        dg.RunsFilter(tags={"dagster/schedule_name": "every_minute"})
                    )
                    if run.is_success
                ]
                time.sleep(2)
            assert scheduled, "the daemon did not run the every-minute schedule"
        assert (profile.home.root / "heartbeat").is_file()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _dev(workspace: Path, port: int) -> subprocess.Popen:
    dg_cli = str(Path(sys.executable).parent / "dg")
    return subprocess.Popen(
        [dg_cli, "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=dict(os.environ),  # the profile as `quant` exports it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _launch_at_once(port: int, n: int) -> list[str]:
    """Submit ``n`` runs of the pool job at the same moment, each from its own client."""
    start = threading.Barrier(n)

    def submit(_: int) -> str:
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        start.wait()
        return client.submit_job_execution("pooled_job", repository_location_name="pool")

    with ThreadPoolExecutor(n) as threads:
        return list(threads.map(submit, range(n)))


def test_runs_started_at_once_on_a_prepared_new_database_all_succeed(production, tmp_path):
    """`quant prepare` on new databases, then 10 rounds of 4 runs launched at the same moment
    (each run worker opens the instance and claims a slot of the rebalance pool)."""
    _, env = production
    prepared = subprocess.run(
        [str(Path(sys.executable).parent / "quant"), "prepare"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert f"pools initialised: {POOL}" in prepared.stdout
    assert "production profile prepared" in prepared.stdout
    for role, expected in (("mlflow", {"experiments", "registered_models"}), ("journal", set())):
        engine = sqlalchemy.create_engine(env[OVERRIDES[role]])
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        engine.dispose()
        assert tables and expected <= tables, (role, tables)  # there before any run

    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {Path(__file__).parent / 'pool_location.py'}\n"
        "      location_name: pool\n"
    )
    port = _free_port()
    process = _dev(workspace, port)
    statuses: list[str] = []
    try:
        _wait_for(f"http://127.0.0.1:{port}/server_info", process)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        for _ in range(10):
            run_ids = _launch_at_once(port, 4)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                round_statuses = [client.get_run_status(r).value for r in run_ids]
                if all(s in ("SUCCESS", "FAILURE", "CANCELED") for s in round_statuses):
                    break
                time.sleep(1)
            statuses += round_statuses
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    assert statuses.count("SUCCESS") == 40, statuses


def test_the_pool_location_uses_the_rebalance_pool():
    from tests.quant_assets import pool_location

    assert pool_location.POOL == POOL


def _command_lines() -> list[str]:
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # the process ended
    return lines


def test_quant_ui_keeps_the_password_off_command_lines_and_refuses_a_second_start(
    production, tmp_path
):
    """`quant ui` on the production profile with a password in the PostgreSQL URLs: URLs printed
    once both servers answer, no process shows the password, and a second `quant ui` exits at
    once naming the busy port."""
    _, env = production
    password = f"pw-{uuid.uuid4().hex[:12]}"  # trust auth: the server does not ask for it
    with_password = {
        var: env[var].replace("postgresql://postgres@", f"postgresql://postgres:{password}@")
        for var in OVERRIDES.values()
    }
    assert all(password in url for url in with_password.values())
    ports = [str(_free_port()), str(_free_port())]
    quant = str(Path(sys.executable).parent / "quant")
    command = [quant, "ui", "--dagster-port", ports[0], "--mlflow-port", ports[1]]
    run_env = {**os.environ, **env, **with_password}
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        for line in process.stdout:  # until the URLs are printed (or quant ui ends)
            lines.append(line)
            if line.startswith("MLflow UI:"):
                break
        assert lines and lines[-1].startswith("MLflow UI:"), "".join(lines)[-4000:]
        # printed only once both answer: they answer now, without waiting
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/server_info", timeout=30):
            pass
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[1]}/health", timeout=30):
            pass
        leaks = [line for line in _command_lines() if password in line]
        assert not leaks, leaks
        second = subprocess.run(
            command, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 1
        (refusal,) = second.stderr.splitlines()
        assert f"port {ports[0]} on 127.0.0.1 is in use" in refusal
        os.killpg(process.pid, signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = "".join(lines) + rest
    assert password not in output
    assert "Found a dagster instance configuration value" not in output
    assert "SupersessionWarning" not in output
