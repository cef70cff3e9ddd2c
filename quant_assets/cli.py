"""The ``quant`` command: ``quant demo`` runs the whole graph, ``quant ui`` serves the UIs."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from quant_engine.io import write_json
from quant_engine.paths import QuantHome

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def prepare_home() -> QuantHome:
    """Create QUANT_HOME, point DAGSTER_HOME into it and install the instance's dagster.yaml."""
    home = QuantHome.resolve().ensure()
    os.environ["QUANT_HOME"] = str(home.root)
    os.environ["DAGSTER_HOME"] = str(home.dagster)
    source = PROJECT_ROOT / "dagster.yaml"
    if not source.is_file():
        raise SystemExit(f"dagster.yaml not found at {source}: run quant from a project checkout")
    shutil.copyfile(source, home.dagster / "dagster.yaml")
    return home


def _summary(result, wall_seconds: float) -> dict[str, float | int | str]:
    meta = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        meta[materialization.asset_key.to_user_string()] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    bars, model, backtest = meta["raw_bars"], meta["alpha_model"], meta["backtest"]
    return {
        "universe_size": bars["n_symbols"],
        "days": bars["n_days"],
        "first_date": bars["first_date"],
        "last_date": bars["last_date"],
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
        "dagster_run_id": result.run_id,
        "wall_seconds": round(wall_seconds, 1),
    }


def demo(_: argparse.Namespace) -> int:
    """Materialize the whole asset graph in the persistent instance and print a summary."""
    started = time.perf_counter()
    home = prepare_home()
    from dagster import DagsterInstance

    from quant_assets.definitions import defs

    print(f"QUANT_HOME={home.root}", flush=True)
    print("materializing raw_bars -> features -> alpha_model -> signals -> backtest", flush=True)
    job = defs().resolve_job_def("retrain_job")  # the pipeline; the model zoo runs on demand
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            raise_on_error=False,
        )
    if not result.success:
        print("demo failed: see the run in `quant ui` or the log above", file=sys.stderr)
        return 1
    summary = _summary(result, time.perf_counter() - started)
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


def ui(args: argparse.Namespace) -> int:
    """Start the Dagster webserver (with daemon) and the MLflow UI on loopback."""
    home = prepare_home()
    from quant_assets.resources import MlflowResource

    bin_dir = Path(sys.executable).parent
    dagster = [
        str(bin_dir / "dagster"),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.dagster_port),
    ]
    mlflow = [
        str(bin_dir / "mlflow"),
        "ui",
        "--backend-store-uri",
        MlflowResource().uri(),
        "--host",
        args.host,
        "--port",
        str(args.mlflow_port),
        "--workers",
        "1",  # the UI is for one person; more workers only compete for the cores
    ]
    signal.signal(signal.SIGTERM, _interrupt)  # stop the servers on `kill` too, not only Ctrl-C
    processes = [subprocess.Popen(cmd, cwd=PROJECT_ROOT) for cmd in (dagster, mlflow)]
    print(f"Dagster UI: http://{args.host}:{args.dagster_port}", flush=True)
    print(f"MLflow UI:  http://{args.host}:{args.mlflow_port}", flush=True)
    print(f"state in {home.root}; Ctrl-C stops both", flush=True)
    try:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quant", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="materialize the whole graph on the synthetic market")
    serve = commands.add_parser("ui", help="serve the Dagster and MLflow UIs on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--dagster-port", type=int, default=3000)
    serve.add_argument("--mlflow-port", type=int, default=5000)
    args = parser.parse_args(argv)
    return {"demo": demo, "ui": ui}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
