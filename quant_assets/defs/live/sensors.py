"""Start the rebalance when the day's targets land; alert when a rebalance run fails."""

import contextlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.accounts import AccountsError, account_config
from quant_assets.defs.live.jobs import ACCOUNT_TAG, rebalance_job, reconcile_job
from quant_assets.defs.live.operator import live_control_job
from quant_assets.defs.live.requests import rebalance_requests
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
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> list[dg.RunRequest]:
    """One rebalance run per account of the accounts file and trading day (a day that the
    fallback schedule or a person already started is not run again)."""
    return rebalance_requests(context.instance, _trading_day(asset_event))


@dg.run_failure_sensor(
    name="rebalance_failure_alert",
    monitored_jobs=[rebalance_job, reconcile_job, live_control_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def rebalance_failure_alert(context: dg.RunFailureSensorContext, broker: BrokerResource) -> None:
    """Log a failed rebalance, reconcile or operator run, and post it to the account's
    ``alert_webhook_url`` (else the bound resource's) when set. Running by default: it only
    reports, it never trades."""
    run = context.dagster_run
    account = run.tags.get(ACCOUNT_TAG, broker.label)
    detail = f"run {run.run_id} ({account}) failed: " + (
        context.failure_event.message or "no message"
    )
    context.log.error(detail)
    url = broker.alert_webhook_url
    with contextlib.suppress(AccountsError):  # not in the file: the bound resource's webhook
        url = account_config(account).get("alert_webhook_url") or url
    if url:
        WebhookAlerter(url).alert("rebalance failed", detail)
