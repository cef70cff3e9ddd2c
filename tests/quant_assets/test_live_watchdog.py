"""A rebalance whose worker was SIGKILLed does not lock its account: the watchdog fails the run
and frees its pool slot, so the account's next run gets the slot; a live worker is left alone."""

from __future__ import annotations

import signal
import subprocess
import sys

import dagster as dg
from dagster._core.events import EngineEventData

from quant_assets.defs.live.watchdog import release_dead_runs

POOL = "broker_account"


def test_a_killed_worker_releases_its_run_and_its_pool_slot(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots(POOL, 1)
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            dead_run = _mark_started(instance, worker.pid)
            live_run = _mark_started(instance, alive.pid)
            assert storage.claim_concurrency_slot(POOL, dead_run.run_id, "rebalance").is_claimed
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            nxt = instance.create_run_for_job(_job(), tags={"quant/broker_account": "alpaca"})
            assert not storage.claim_concurrency_slot(POOL, nxt.run_id, "rebalance").is_claimed

            assert release_dead_runs(instance) == [dead_run.run_id]
            assert instance.get_run_by_id(dead_run.run_id).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(live_run.run_id).status == dg.DagsterRunStatus.STARTED
            assert storage.claim_concurrency_slot(POOL, nxt.run_id, "rebalance").is_claimed
            assert release_dead_runs(instance) == []  # once only
        finally:
            for process in (worker, alive):
                if process.poll() is None:
                    process.kill()
                    process.wait()


def _job():
    from quant_assets.definitions import defs

    return defs().resolve_job_def("rebalance_job")


def _mark_started(instance: dg.DagsterInstance, pid: int) -> dg.DagsterRun:
    run = instance.create_run_for_job(_job(), tags={"quant/broker_account": "alpaca"})
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    instance.handle_run_event(
        run.run_id,
        dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_START.value,
            job_name=run.job_name,
            message="started",
        ),
    )
    return instance.get_run_by_id(run.run_id)
