"""Fallbacks for the sensor and the after-open reconciliation, stopped by default."""

from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.defs.live.jobs import ACCOUNT_TAG, DAY_TAG, rebalance_job, reconcile_job
from quant_assets.defs.live.requests import account_names, has_run, rebalance_requests

NEW_YORK = ZoneInfo("America/New_York")


@dg.schedule(
    name="rebalance_fallback_schedule",
    job=rebalance_job,
    cron_schedule="0 20 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def rebalance_fallback_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """One run per account for the day, unless the sensor (or a person) already started one."""
    day = context.scheduled_execution_time.astimezone(NEW_YORK).date().isoformat()
    return rebalance_requests(context.instance, day)


@dg.schedule(
    name="reconcile_after_open_schedule",
    job=reconcile_job,
    cron_schedule="45 9 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def reconcile_after_open_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """After the open, reconcile each account's latest rebalance (its on-open fills are in)."""
    day = context.scheduled_execution_time.astimezone(NEW_YORK).date().isoformat()
    return [
        dg.RunRequest(
            run_key=f"reconcile-{name}-{day}",
            partition_key=name,
            tags={ACCOUNT_TAG: name, DAY_TAG: day},
        )
        for name in account_names(context.instance)
        if not has_run(context.instance, reconcile_job.name, name, day)
    ]
