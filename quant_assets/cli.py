"""The ``quant`` command: demo (whole graph), ui (the UIs), prepare (storage), run and wfv
(simulations)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from quant_assets.profile import PROJECT_ROOT, DeploymentProfile, ProfileError, ensure_databases
from quant_assets.train import add_train_command, train
from quant_engine.io import write_json
from quant_engine.paths import QuantHome

DEFAULT_MLFLOW_PORT = 5000  # `quant ui`'s MLflow UI, which the demo's materializations link to


def prepare_home() -> QuantHome:
    """Set up the deployment profile's state: QUANT_HOME, DAGSTER_HOME and its dagster.yaml,
    and (production) the PostgreSQL databases."""
    try:
        profile = DeploymentProfile.from_env()
    except ProfileError as exc:
        raise SystemExit(f"quant: {exc}") from exc
    home = profile.home.ensure()
    profile.export()
    if not profile.instance_yaml.is_file():
        raise SystemExit(f"{profile.instance_yaml} not found: run quant from a project checkout")
    if profile.postgres_urls():
        try:
            ensure_databases(profile)
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise SystemExit(
                f"quant: PostgreSQL is not usable: {first_line} (`quant doctor` says more)"
            ) from None
    profile.install_instance()
    return home


def _summary(result, trading, wall_seconds: float) -> dict[str, float | int | str]:
    meta = {}
    events = [
        *result.get_asset_materialization_events(),
        *trading.get_asset_materialization_events(),
    ]
    for event in events:
        materialization = event.materialization
        meta[materialization.asset_key.to_user_string()] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    bars, model, backtest = meta["raw_bars"], meta["alpha_model"], meta["backtest"]
    rebalance = meta["rebalance"]
    return {
        "universe_size": bars["stored_symbols"],  # the whole bar store, not just this run's day
        "days": bars["stored_days"],
        "first_date": bars["stored_first_day"],
        "last_date": bars["stored_last_day"],
        "oracle_ic": bars.get("oracle_ic"),
        "model_ic": model["model_ic"],
        "model_rank_ic": model["model_rank_ic"],
        "model_icir": model["icir"],
        "model_version": model["model_version"],
        "sharpe": backtest["long_short.sharpe"],
        "annual_return": backtest["long_short.annual_return"],
        "max_drawdown": backtest["long_short.max_drawdown"],
        "long_only_sharpe": backtest["long_only.sharpe"],
        "long_only_max_drawdown": backtest["long_only.max_drawdown"],
        "paper_orders_sent": rebalance["n_sent"],
        "paper_equity": rebalance["equity"],
        "dagster_run_id": result.run_id,
        "wall_seconds": round(wall_seconds, 1),
    }


def demo(_: argparse.Namespace) -> int:
    """Materialize the whole asset graph in the persistent instance and print a summary."""
    started = time.perf_counter()
    from quant_assets.prepare import prepare_storage

    home = prepare_storage(lambda line: print(line, flush=True))
    from dagster import DagsterInstance

    from quant_assets.definitions import defs
    from quant_assets.defs.market_data.history import record_history, seed_history
    from quant_assets.metadata import use_mlflow_ui

    print(f"QUANT_HOME={home.root}", flush=True)
    # Materializations link to the MLflow UI that `quant ui` serves by default.
    use_mlflow_ui(f"http://127.0.0.1:{DEFAULT_MLFLOW_PORT}")
    definitions = defs()
    # The history goes straight into the bar store and is recorded as materialized partitions;
    # Dagster runs the last day's partition.
    last_day = seed_history(definitions.resources["market_data"])
    paper = {"resources": {"broker": {"config": {"kind": "paper", "dry_run": False}}}}
    with DagsterInstance.get() as instance:
        recorded = record_history(instance)
        print(
            f"bar store seeded ({recorded} partitions recorded); materializing"
            f" raw_bars[{last_day}] -> features -> alpha_model -> champion -> signals -> backtest"
            " -> target_portfolio, then rebalancing the paper account",
            flush=True,
        )
        # The pipeline (the model zoo runs on demand), then the day's rebalance of the paper
        # account: simulated fills, nothing leaves the machine.
        result = definitions.resolve_job_def("retrain_job").execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
            partition_key=last_day.isoformat(),
        )
        account = "paper-paper"  # the label of the paper config above: the job's partition
        instance.add_dynamic_partitions("broker_account", [account])
        trading = result.success and definitions.resolve_job_def(
            "rebalance_job"
        ).execute_in_process(
            instance=instance, run_config=paper, raise_on_error=False, partition_key=account
        )
    if not (trading and trading.success):
        print("demo failed: see the run in `quant ui` or the log above", file=sys.stderr)
        return 1
    summary = _summary(result, trading, time.perf_counter() - started)
    path = write_json(home.reports / "demo_summary.json", summary)
    width = max(len(k) for k in summary)
    print(
        "\n".join(
            f"{k:<{width}}  {v:.4f}" if isinstance(v, float) else f"{k:<{width}}  {v}"
            for k, v in summary.items()
        )
    )
    print(f"summary written to {path}")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _busy_port(host: str, ports: tuple[int, ...]) -> int | None:
    """The first of ``ports`` that a server cannot listen on at ``host``, if any."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
            try:
                probe.bind((host, port))
            except OSError:
                return port
    return None


def _answers(url: str) -> bool:
    import urllib.request  # only `quant ui` polls: `quant run` starts without http.client

    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def ui(args: argparse.Namespace) -> int:
    """Start the Dagster webserver (with daemon) and the MLflow UI on loopback."""
    busy = _busy_port(args.host, (args.dagster_port, args.mlflow_port))
    if busy is not None:
        print(
            f"quant ui: port {busy} on {args.host} is in use (another quant ui?); "
            "stop it or pass --dagster-port / --mlflow-port",
            file=sys.stderr,
        )
        return 1
    home = prepare_home()
    # The servers run in QUANT_HOME (the checkout's dagster.yaml would make Dagster warn that
    # it is not DAGSTER_HOME's) and import this checkout's code.
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    # The storage first, in its own process (it loads the code location; this one stays small).
    prepared = subprocess.run([sys.executable, "-m", "quant_assets.cli", "prepare"], env=env)
    if prepared.returncode:
        return prepared.returncode
    from quant_assets.metadata import use_mlflow_ui
    from quant_assets.resources import MlflowResource

    bin_dir = Path(sys.executable).parent
    dagster = [
        str(bin_dir / "dg"),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.dagster_port),
        "--log-format",  # production: one JSON object per line, for the log aggregator
        "json" if DeploymentProfile.from_env().name == "production" else "colored",
    ]
    mlflow = [
        str(bin_dir / "mlflow"),
        "ui",
        "--host",
        args.host,
        "--port",
        str(args.mlflow_port),
        "--workers",
        "1",  # the UI is for one person; more workers only compete for the cores
    ]
    # The store through the environment, not the command line: `ps` would show its password.
    env["MLFLOW_BACKEND_STORE_URI"] = MlflowResource().uri()
    signal.signal(signal.SIGTERM, _interrupt)  # stop the servers on `kill` too, not only Ctrl-C
    # Runs launched from this Dagster UI link their MLflow runs to this MLflow UI.
    use_mlflow_ui(f"http://{args.host}:{args.mlflow_port}")
    urls = {
        "Dagster UI: ": f"http://{args.host}:{args.dagster_port}",
        "MLflow UI:  ": f"http://{args.host}:{args.mlflow_port}",
    }
    health = [f"{urls['Dagster UI: ']}/server_info", f"{urls['MLflow UI:  ']}/health"]
    # MLflow's server imports a Starlette module that Starlette has deprecated: not ours to fix.
    quiet = {**env, "PYTHONWARNINGS": "ignore:starlette.middleware.wsgi is deprecated"}
    processes = [
        subprocess.Popen(dagster, cwd=home.root, env=env),
        subprocess.Popen(mlflow, cwd=home.root, env=quiet),
    ]
    print("starting the Dagster and MLflow servers...", flush=True)
    try:
        waiting = list(health)
        while waiting and all(p.poll() is None for p in processes):
            waiting = [url for url in waiting if not _answers(url)]
            if waiting:
                time.sleep(1)
        if not waiting:
            for label, url in urls.items():
                print(f"{label}{url}", flush=True)
            print(f"state in {home.root}; Ctrl-C stops both", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
    return max(p.returncode or 0 for p in processes)


def simulate(args: argparse.Namespace) -> int:
    """``quant run`` / ``quant wfv``: a config-driven simulation, summary printed as JSON.

    A user error (the config or the data) is one line on stderr and exit status 2.
    """
    from quant_engine.simulation.records import dumps
    from quant_engine.simulation.runner import RunError, run_from_config, walk_forward

    work = run_from_config if args.command == "run" else walk_forward
    try:
        summary = work(args.config, out=args.out, profile=args.profile)
    except RunError as exc:
        print(f"quant {args.command}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="materialize the whole graph on the synthetic market")
    serve = commands.add_parser("ui", help="serve the Dagster and MLflow UIs on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--dagster-port", type=int, default=3000)
    serve.add_argument("--mlflow-port", type=int, default=5000)
    for name, help_text in (
        ("run", "one simulation run from a YAML config"),
        ("wfv", "walk-forward validation from a YAML config"),
    ):
        sim = commands.add_parser(name, help=help_text)
        sim.add_argument("-c", "--config", required=True, help="YAML run config")
        sim.add_argument("--out", help="artifacts root (overrides run.artifacts_dir)")
        sim.add_argument("--profile", action="store_true", help="write profile.pstats")
    add_train_command(commands)
    commands.add_parser("prepare", help="create or migrate the profile's storage (before any run)")
    doctor = commands.add_parser("doctor", help="check the instance, MLflow, databases, broker")
    doctor.add_argument("--broker", choices=["paper", "alpaca", "ccxt"], help="check this kind")
    from quant_assets import live_cli

    live_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "live":
        return live_cli.run(args)
    if args.command == "doctor":
        from quant_assets.doctor import run_doctor

        return run_doctor(args.broker)
    if args.command == "prepare":
        from quant_assets.prepare import run_prepare

        return run_prepare()
    commands_run = {"demo": demo, "ui": ui, "run": simulate, "wfv": simulate, "train": train}
    return commands_run[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
