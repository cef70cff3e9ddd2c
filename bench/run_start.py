"""Benchmark: the wall time of a small ``quant run``, start to exit, with a warm kernel cache.

Target (issue 16): ``quant run -c configs/sma_crossover.yaml`` (20 symbols x 750 days,
event-driven) in at most 1.0 s on a quiet machine, median of 5. One untimed run first fills the
caches, numba's compiled kernels and Python's bytecode (``__pycache__``, written even where the
calling shell sets ``PYTHONDONTWRITEBYTECODE``, as a user's checkout has it after its first
run); each timed run is a fresh process, as a user's is, writing its artifacts to a temporary
folder. The load average is printed beside the figures, and each run's CPU seconds (user +
system), which a shared machine inflates less than the wall time.
Run: ``.venv/bin/python bench/run_start.py [--config configs/sma_crossover.yaml] [--runs 5]``
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="configs/sma_crossover.yaml")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # this checkout's code
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # else every run compiles the project from source
    entry = "import sys; from quant_assets.cli import main; sys.exit(main())"  # `quant`'s script
    with tempfile.TemporaryDirectory() as out:
        config = str(ROOT / args.config) if not Path(args.config).is_absolute() else args.config
        command = [sys.executable, "-c", entry, "run", "-c", config, "--out", out]

        def run() -> tuple[float, float]:
            """Wall seconds and CPU seconds (user + system) of one fresh process."""
            started = time.perf_counter()
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            if os.waitstatus_to_exitcode(status):
                raise SystemExit(f"quant run failed: {' '.join(command)}")
            return wall, usage.ru_utime + usage.ru_stime

        run()  # fills the caches
        load_before = os.getloadavg()
        walls, cpus = zip(*(run() for _ in range(args.runs)), strict=True)
        load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "benchmark": "quant_run_start",
                "config": args.config,
                "median_seconds": round(statistics.median(walls), 3),
                "seconds": [round(w, 3) for w in walls],
                "median_cpu_seconds": round(statistics.median(cpus), 3),
                "cpu_seconds": [round(c, 3) for c in cpus],
                "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
