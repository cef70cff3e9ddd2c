"""A crash never locks an account: trading runs whose worker process died are failed and their
concurrency slots freed, so that the account's next run starts without a manual step.

Under the default run launcher Dagster cannot tell that a run worker was killed (SIGKILL, OOM):
the run stays STARTED and keeps its ``broker_account`` pool slot and its run-tag slot, and every
later rebalance of the account waits. Launchers with worker health checks (Kubernetes) are left
to Dagster's own run monitoring (``run_monitoring`` in dagster.yaml).
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher

from quant_assets.defs.live.jobs import rebalance_job, reconcile_job
from quant_assets.defs.live.operator import live_control_job

WATCHED_JOBS = (rebalance_job.name, reconcile_job.name, live_control_job.name)
STARTED_PROCESS = "Started process for run"  # the engine event naming the worker's pid


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=100
    ).records
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        text = f"{entry.user_message or ''} {event.message if event else ''}"
        if event is None or STARTED_PROCESS not in text:
            continue
        pid = event.engine_event_data.metadata.get("pid") if event.engine_event_data else None
        if pid is not None:
            return int(pid.value)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    try:  # a zombie (killed, not yet reaped) is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the started trading runs whose worker process is gone and free their slots, and
    those of ended trading runs still holding any."""
    released = []
    runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], job_name=None))
    for run in runs:
        if run.job_name not in WATCHED_JOBS:
            continue
        pid = _worker_pid(instance, run.run_id)
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(
            run, message=f"run worker (pid {pid}) is gone: failed by trading_run_watchdog"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    # Runs that ended (failed from outside, e.g. by the code server that saw its worker die)
    # but still hold pool slots: freed at once, not after run monitoring's next pass.
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished and run.job_name in WATCHED_JOBS:
                storage.free_concurrency_slots_for_run(run_id)
                released.append(run_id)
    return released


@dg.sensor(
    name="trading_run_watchdog",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def trading_run_watchdog(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Runs by default: it never trades, it only releases accounts held by dead runs."""
    if not isinstance(context.instance.run_launcher, DefaultRunLauncher):
        return dg.SkipReason("the run launcher checks worker health itself (run monitoring)")
    released = release_dead_runs(context.instance)
    for run_id in released:
        context.log.error(f"run {run_id}: worker gone; run failed and its slots freed")
    return dg.SkipReason(f"released {len(released)} dead trading run(s)")
