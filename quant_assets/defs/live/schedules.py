"""A fallback for the sensor: the rebalance on a weekday evening, stopped by default."""

from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.defs.live.jobs import ACCOUNT_TAG, rebalance_job
from quant_assets.resources.broker import BrokerResource

NEW_YORK = ZoneInfo("America/New_York")


@dg.schedule(
    name="rebalance_fallback_schedule",
    job=rebalance_job,
    cron_schedule="0 20 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def rebalance_fallback_schedule(
    context: dg.ScheduleEvaluationContext, broker: BrokerResource
) -> dg.RunRequest:
    """Same run key as the sensor: a day already rebalanced by the sensor is not run again."""
    day = context.scheduled_execution_time.astimezone(NEW_YORK).date().isoformat()
    return dg.RunRequest(
        run_key=f"rebalance-{broker.label}-{day}",
        tags={ACCOUNT_TAG: broker.label, "quant/trading_day": day},
    )
