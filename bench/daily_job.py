"""Benchmark: one day of ``daily_pipeline_job`` through Dagster, for histories of several lengths.

Target (issue 16): for 500 symbols, the daily job (no retraining) takes at most 30 s with 20
years of history, and grows by less than 25% from 5 to 20 years: a day's run reads only what
it needs (features of the new day from the factor sets' lookback window, signals scored for
the new day only, the backtest over wide panels built without pivots), and its step processes
import only what they use. ``raw_bars`` gets its day from the synthetic market kept under
``QUANT_HOME/cache/synthetic`` (the setup generates it once; the daily job's one session longer
market extends it by that session from the generator's saved state) and counts the stored
symbols from the bar store's record; ``signals`` appends the new day to the CSV signal file
(the Parquet signal file and the asset's own Parquet are still written whole); and
``target_portfolio`` reads the last signal day only.

How it runs, per history of ``Y`` years (``252 * Y`` sessions of the synthetic market):

1. Setup (not timed as the daily job): a fresh ``QUANT_HOME`` under ``--home`` (local
   profile: SQLite Dagster instance and MLflow) is prepared as ``bench/large_universe.py``
   does, with the market one session shorter; its child steps seed the bar store and
   materialize ``raw_bars`` (the last day), ``features``, ``alpha_model`` (one walk-forward
   fold: training is not what the daily job does; ``champion`` in its run), ``signals`` and
   ``backtest`` (whose stored state the daily job extends by its day), each in a process of
   its own.
2. The daily job: a child process runs ``daily_pipeline_job`` for the next session's
   partition with ``dg.execute_job`` on the home's persistent instance and the job's own
   executor (multiprocess: every step in a process of its own that loads the code location,
   as the daemon's runs do). Its wall time (process start to exit, imports included) and the
   peak RSS of the largest process (``os.wait4``'s ``ru_maxrss``, which covers the step
   processes the run waited for) are reported, with each step's duration from the run's
   event log.

Run (2 cores: setup about 2, 3 and 5 minutes, each daily job well under a minute)::

    .venv/bin/python bench/daily_job.py                     # 500 symbols x 5, 10, 20 years
    .venv/bin/python bench/daily_job.py --symbols 20 --years 2 --overwrite   # smoke test
    .venv/bin/python bench/daily_job.py --reuse    # the daily job again, on the same homes

Prints a table (years; daily-job wall s; peak RSS MiB; step durations) and writes it with the
settings to ``<home>/daily_job.json``. Exits 1 when a run fails, the 20-year (longest) run
exceeds ``--target-s`` or the run grows by ``--max-growth`` or more from the shortest history
to the longest.

Measured 2026-12-01 (third session) on a quiet 2-core Intel Xeon VM (23.5 GiB, load average
about 1: the daily job's own processes), factor set ``basic``::

    years  wall s  peak MiB  backtest  features  raw_bars  signals  target_portfolio
        5     8.2       661       1.1       0.4       0.3      2.4               0.1
       10     8.7       680       1.2       0.5       0.3      2.7               0.1
       20     8.9       731       1.3       0.5       0.3      2.8               0.1

20 years in 8.9 s, 9% above 5 years (before the incremental pipeline: about 100 s at 20 years
on a slower machine, growing by 58%). Most of the wall time is the run's fixed cost: the step
processes, Dagster, MLflow and the model load. What still grows with history: each write to the
bar and feature stores links every stored day's file into the new generation, and ``signals``
writes its Parquet files whole.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.large_universe import (  # noqa: E402  (the repository on the path first)
    CONFIG_FILE,
    ProfileConfig,
    _environment,
    _machine,
    _prepare_home,
    measure,
)

SETUP_STEPS = ("seed", "raw_bars", "features", "alpha_model", "signals", "backtest")
JOB = "daily_pipeline_job"
RESULT_FILE = "daily_job_run.json"


# --------------------------------------------------------------------------- child process


def _config(home: Path) -> ProfileConfig:
    data = json.loads((home / "reports" / CONFIG_FILE).read_text())
    return ProfileConfig(**{**data, "factor_sets": tuple(data["factor_sets"])})


def daily_job():
    """The code location's daily job, with the bench's market one session longer than the
    setup's (each step process rebuilds it from ``QUANT_HOME``)."""
    import dagster as dg

    from quant_assets.definitions import defs
    from quant_assets.resources import MarketDataResource
    from quant_assets.resources.broker import BrokerResource

    definitions = defs()
    config = _config(Path(os.environ["QUANT_HOME"]))
    market = MarketDataResource(**{**config.market(), "n_days": config.n_days + 1})
    bound = dg.Definitions(
        assets=definitions.assets,
        asset_checks=definitions.asset_checks,
        jobs=definitions.jobs,
        resources={
            **definitions.resources,
            "market_data": market,
            "broker": BrokerResource(kind="paper", dry_run=True),
        },
    )
    return bound.resolve_job_def(JOB)


def run_daily(home: Path) -> dict[str, Any]:
    """Run the daily job for the next session's partition; its outcome and step durations."""
    import dagster as dg

    from quant_assets.defs.market_data.partitions import partition_key
    from quant_assets.resources import MarketDataResource

    config = _config(home)
    market = MarketDataResource(**{**config.market(), "n_days": config.n_days + 1})
    day = market.available_days()[1]
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(daily_job),
            instance=instance,
            run_config={  # the setup's settings (large_universe's run configs)
                "ops": {
                    **config.run_config("raw_bars")["ops"],
                    **config.run_config("features")["ops"],
                }
            },
            tags={"quant/bench": "daily_job", "dagster/partition": partition_key(day)},
            raise_on_error=False,
        )
        steps = {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is not None and event.event_type_value == "STEP_SUCCESS":
                steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 2)
        return {
            "success": result.success,
            "run_id": result.run_id,
            "day": str(day),
            "execute_s": round(time.perf_counter() - started, 2),
            "steps": steps,
        }


# --------------------------------------------------------------------------- parent process


def _child(home: Path, env: dict[str, str]) -> dict[str, Any]:
    out = home / "reports" / RESULT_FILE
    out.unlink(missing_ok=True)
    log = home / "reports" / "daily_job.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--home", str(home)]
    with log.open("w") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    outcome = json.loads(out.read_text()) if out.is_file() else {"success": False, "steps": {}}
    if code or not outcome["success"]:
        print(f"daily job failed (exit {code}); see {log}", file=sys.stderr)
        print("\n".join(log.read_text().splitlines()[-25:]), file=sys.stderr)
    return {
        **outcome,
        "success": code == 0 and outcome["success"],
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def bench_history(
    base: Path, profile: ProfileConfig, years: int, overwrite: bool, reuse: bool
) -> dict:
    """Set up a home with ``years`` of history (``reuse``: keep one set up before), then time
    one day's job on it."""
    config = replace(profile, n_days=252 * years - 1, retrain_every=252 * years)
    home = (base / f"{config.n_symbols}x{years}y").resolve()
    env = _environment(home, config)
    setup = {}
    if reuse and (home / "reports" / CONFIG_FILE).is_file():
        if _config(home) != config:
            raise SystemExit(f"{home} was set up with other settings: drop --reuse")
        steps = ()  # a rerun of the same day: its raw_bars partition is ingested again
    else:
        _prepare_home(home, config, overwrite)
        steps = SETUP_STEPS
    for step in steps:
        result = measure(step, home, env)
        if result.exit_code:
            raise SystemExit(f"setup step {step} failed for {years} years")
        setup[step] = result.wall_s
    print(f"  {years} y: setup {sum(setup.values()):.0f} s ({setup})", flush=True)
    daily = _child(home, env)
    print(
        f"  {years} y: daily job {daily['wall_s']:.1f} s, peak RSS"
        f" {daily['peak_rss_mib']:,.0f} MiB, steps {daily['steps']}",
        flush=True,
    )
    return {"years": years, "n_days": config.n_days + 1, "setup_s": setup, **daily}


def _table(rows: list[dict]) -> str:
    steps = sorted({s for r in rows for s in r["steps"]})
    header = f"{'years':>5} {'wall s':>7} {'peak MiB':>9}" + "".join(f" {s:>16}" for s in steps)
    lines = [header, "-" * len(header)]
    for r in rows:
        cells = "".join(f" {r['steps'].get(s, float('nan')):>16.1f}" for s in steps)
        lines.append(f"{r['years']:>5} {r['wall_s']:>7.1f} {r['peak_rss_mib']:>9,.0f}{cells}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/quant_daily_job"))
    parser.add_argument("--overwrite", action="store_true", help="replace earlier bench homes")
    parser.add_argument(
        "--reuse", action="store_true", help="time the daily job again on homes set up before"
    )
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", default="5,10,20", help="histories, comma-separated")
    parser.add_argument("--factor-sets", default="basic")
    parser.add_argument("--target-s", type=float, default=30.0)
    parser.add_argument("--max-growth", type=float, default=0.25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        home = args.home.resolve()
        (home / "reports" / RESULT_FILE).write_text(json.dumps(run_daily(home)))
        return 0
    years = sorted(int(y) for y in args.years.split(","))
    profile = ProfileConfig(
        n_symbols=args.symbols,
        factor_sets=tuple(s.strip() for s in args.factor_sets.split(",") if s.strip()),
    )
    print(f"daily job: {args.symbols} symbols, histories {years} years", flush=True)
    rows = [bench_history(args.home, profile, y, args.overwrite, args.reuse) for y in years]
    print(_table(rows))
    growth = rows[-1]["wall_s"] / rows[0]["wall_s"] - 1.0
    report = {
        "benchmark": "daily_job",
        "profile": asdict(profile),
        "machine": _machine(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "runs": rows,
        "growth": round(growth, 3),
    }
    args.home.mkdir(parents=True, exist_ok=True)
    (args.home / "daily_job.json").write_text(json.dumps(report, indent=2) + "\n")
    ok = all(r["success"] for r in rows)
    print(
        f"longest history {rows[-1]['years']} y: {rows[-1]['wall_s']:.1f} s (target"
        f" {args.target_s:g} s); growth from {rows[0]['years']} y {growth:+.0%} (target"
        f" < {args.max_growth:.0%}); load average {' '.join(report['loadavg'])}"
    )
    within = rows[-1]["wall_s"] <= args.target_s and growth < args.max_growth
    return 0 if ok and within else 1


if __name__ == "__main__":
    sys.exit(main())
