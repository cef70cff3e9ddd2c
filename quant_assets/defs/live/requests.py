"""One rebalance run per account and trading day, whoever asks first (sensor, fallback
schedule or a launch by hand): run keys dedupe only per sensor or schedule, so each request is
checked against the runs the instance already has for that account and day."""

from __future__ import annotations

import dagster as dg

from quant_assets.accounts import load_accounts
from quant_assets.defs.live.assets import ACCOUNTS
from quant_assets.defs.live.jobs import ACCOUNT_TAG, DAY_TAG


def account_names(instance: dg.DagsterInstance) -> list[str]:
    """The accounts of the accounts file, each registered as a partition of the live assets."""
    names = list(load_accounts())
    known = set(instance.get_dynamic_partitions(ACCOUNTS.name))
    missing = [n for n in names if n not in known]
    if missing:
        instance.add_dynamic_partitions(ACCOUNTS.name, missing)
    return names


def has_run(instance: dg.DagsterInstance, job_name: str, account: str, day: str) -> bool:
    """Whether ``job_name`` has a run (any status) for ``account`` and ``day``."""
    runs = instance.get_run_records(
        dg.RunsFilter(job_name=job_name, tags={ACCOUNT_TAG: account, DAY_TAG: day}), limit=1
    )
    return bool(runs)


def rebalance_requests(
    instance: dg.DagsterInstance, day: str, job_name: str = "rebalance_job"
) -> list[dg.RunRequest]:
    """A run request per account that has no run for ``day`` yet."""
    return [
        dg.RunRequest(
            run_key=f"rebalance-{name}-{day}",
            partition_key=name,
            tags={ACCOUNT_TAG: name, DAY_TAG: day},
        )
        for name in account_names(instance)
        if not has_run(instance, job_name, name, day)
    ]
