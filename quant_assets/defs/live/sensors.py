"""Start the rebalance when the day's targets land; alert when a rebalance run fails."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.defs.live.jobs import ACCOUNT_TAG, rebalance_job
from quant_assets.resources.broker import BrokerResource
from quant_engine.oms import WebhookAlerter

NEW_YORK = ZoneInfo("America/New_York")


def _trading_day(event: dg.EventLogEntry) -> str:
    """The materialization's ``trading_day``, else the New York date it happened on."""
    materialization = event.asset_materialization
    if materialization is not None and "trading_day" in materialization.metadata:
        return str(materialization.metadata["trading_day"].value)
    return datetime.fromtimestamp(event.timestamp, UTC).astimezone(NEW_YORK).date().isoformat()


@dg.asset_sensor(
    asset_key=dg.AssetKey("target_portfolio"),
    job=rebalance_job,
    name="rebalance_on_targets",
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def rebalance_on_targets(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry, broker: BrokerResource
) -> dg.RunRequest:
    """One rebalance run per broker account and trading day (the run key makes it once)."""
    day = _trading_day(asset_event)
    return dg.RunRequest(
        run_key=f"rebalance-{broker.label}-{day}",
        tags={ACCOUNT_TAG: broker.label, "quant/trading_day": day},
    )


@dg.run_failure_sensor(
    name="rebalance_failure_alert",
    monitored_jobs=[rebalance_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def rebalance_failure_alert(context: dg.RunFailureSensorContext, broker: BrokerResource) -> None:
    """Log a failed rebalance run, and post it to ``broker.alert_webhook_url`` when set."""
    run = context.dagster_run
    detail = f"run {run.run_id} ({run.tags.get(ACCOUNT_TAG, broker.label)}) failed: " + (
        context.failure_event.message or "no message"
    )
    context.log.error(detail)
    if broker.alert_webhook_url:
        WebhookAlerter(broker.alert_webhook_url).alert("rebalance failed", detail)
