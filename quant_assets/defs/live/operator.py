"""The operator controls of ``quant live`` as a Dagster job, for operators who live in the UI."""

from datetime import date
from typing import Literal

import dagster as dg

from quant_assets import live_control as control


class LiveControlConfig(dg.Config):
    action: Literal["status", "halt", "resume", "init", "retry", "flatten"] = "status"
    account: str | None = None  # needed where the accounts file names several
    reason: str = ""  # required for every action but status
    by: str = ""  # who acts; default the run's launcher or the process's login name
    day: str = ""  # retry: the trading day (YYYY-MM-DD)


@dg.op
def live_control(context: dg.OpExecutionContext, config: LiveControlConfig) -> None:
    """Carry out one operator action; it is logged here and in the account's risk state."""
    if config.action != "status" and not config.reason.strip():
        raise dg.Failure(f"live {config.action} needs a reason")
    run = context.instance.get_run_by_id(context.run_id)
    by = config.by or (run.tags.get("dagster/user") if run else None) or live_control_user()
    try:
        if config.action == "status":
            result: object = control.status(config.account)
        elif config.action == "flatten":
            result = control.flatten(config.account, config.reason, by)
        elif config.action == "retry":
            result = control.retry(
                config.account, date.fromisoformat(config.day), config.reason, by
            )
        else:
            act = getattr(control, config.action)
            result = act(config.account, config.reason, by)
    except Exception as error:
        raise dg.Failure(f"live {config.action}: {error}") from None
    context.log.info(f"live {config.action}: {result}")
    if isinstance(result, dict) and (
        result.get("rejected") or result.get("unresolved") or result.get("queued_market_closed")
    ):
        raise dg.Failure(f"live flatten did not complete: {result}")


def live_control_user() -> str:
    return f"dagster:{control.operator()}"


@dg.job(tags={"quant/workload": "trading"})
def live_control_job() -> None:
    """status | halt | resume | init | retry | flatten of one account (see ``quant live``)."""
    live_control()
