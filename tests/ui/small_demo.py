"""The project's code location on the tests' small synthetic market, and `quant demo`'s set-up
on it, for the browser tests (the demo's default market takes half an hour to train).

The code location is the project's own definitions with the small market as ``market_data``;
run it with ``QUANT_LAST_BAR_DAY`` set to the small market's last day, as the demo's default
ends with its market. ``python -m tests.ui.small_demo`` does what ``quant demo`` does up to the
pipeline run: every store prepared, the history seeded and recorded as materialized raw_bars
partitions, then ``retrain_job`` for the last day's partition in the persistent instance.
"""

from __future__ import annotations

import dagster as dg

from quant_assets import definitions as project_location
from quant_assets.resources import MarketDataResource

# tests/conftest.py's SMALL_MARKET (imported from there, the code location would import pytest)
SMALL_MARKET = {"n_symbols": 24, "n_days": 700, "seed": 11, "signal_strength": 0.1}


def small_market() -> MarketDataResource:
    return MarketDataResource(**SMALL_MARKET)


@dg.definitions
def defs() -> dg.Definitions:
    project = project_location.defs()  # a module attribute: one @definitions per module
    return dg.Definitions(
        assets=project.assets,
        asset_checks=project.asset_checks,
        jobs=project.jobs,
        schedules=project.schedules,
        sensors=project.sensors,
        resources={**(project.resources or {}), "market_data": small_market()},
        executor=project.executor,
        loggers=project.loggers,
        metadata=project.metadata,
    )


def main() -> int:
    """`quant demo` up to the pipeline run, on the small market; exit status 0 on success."""
    from quant_assets.defs.market_data.history import record_history, seed_history
    from quant_assets.prepare import prepare_storage

    prepare_storage(lambda line: print(line, flush=True))
    definitions = defs()
    last_day = seed_history(small_market())
    with dg.DagsterInstance.get() as instance:
        print(f"{record_history(instance)} partitions recorded", flush=True)
        result = definitions.resolve_job_def("retrain_job").execute_in_process(
            instance=instance, raise_on_error=False, partition_key=last_day.isoformat()
        )
    print(f"retrain_job[{last_day}]: {'success' if result.success else 'FAILED'}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
