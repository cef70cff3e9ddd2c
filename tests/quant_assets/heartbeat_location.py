"""A code location with an every-minute schedule, for the daemon test of the production profile."""

import os
from pathlib import Path

import dagster as dg


@dg.op
def beat() -> None:
    Path(os.environ["QUANT_HOME"], "heartbeat").touch()


@dg.job
def heartbeat_job() -> None:
    beat()


defs = dg.Definitions(
    jobs=[heartbeat_job],
    schedules=[
        dg.ScheduleDefinition(
            name="every_minute",
            job=heartbeat_job,
            cron_schedule="* * * * *",
            default_status=dg.DefaultScheduleStatus.RUNNING,
        )
    ],
)
