"""Jobs and schedules: the daily pipeline (no retrain), the weekly retrain, the model zoo.

The pipeline jobs are partitioned by raw_bars' trading days: a schedule runs one day's
partition; a backfill (or ``quant demo``) runs a range of them in one run.
"""

from zoneinfo import ZoneInfo

import dagster as dg

from quant_assets.defs.market_data.partitions import partition_key

MODEL_ZOO = dg.AssetSelection.groups("model_zoo")
# Trading runs only in rebalance_job, started by the sensor on target_portfolio: once per
# account and day, one run per account at a time.
TRADING = dg.AssetSelection.assets("rebalance", "reconciliation")
NEW_YORK = ZoneInfo("America/New_York")

daily_pipeline_job = dg.define_asset_job(
    "daily_pipeline_job",
    selection=dg.AssetSelection.all()
    - MODEL_ZOO
    - TRADING
    - dg.AssetSelection.assets("alpha_model", "champion", "execution_costs"),
    description="New bars -> features -> signals from the champion model -> backtest ->"
    " target_portfolio (the execution-cost study over the history refreshes with the retrain).",
    # Each step extends what is stored by a day: seconds of work, less than a process per step
    # would spend starting and loading the code location, so the run executes them in one.
    executor_def=dg.in_process_executor,
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.all() - MODEL_ZOO - TRADING,
    description="The whole pipeline, retraining the LightGBM challenger walk-forward.",
    tags={"quant/workload": "training"},
)
model_zoo_job = dg.define_asset_job(
    "model_zoo_job",
    selection=MODEL_ZOO | dg.AssetSelection.assets("champion"),
    description="Every further model family, each a challenger for the champion alias.",
    tags={"quant/workload": "training"},
)


def _todays_partition(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """A run for the partition of the scheduled day (New York date; a weekend maps to Friday)."""
    key = partition_key(context.scheduled_execution_time.astimezone(NEW_YORK).date())
    return dg.RunRequest(run_key=key, partition_key=key)


@dg.schedule(
    name="daily_pipeline_schedule",
    job=daily_pipeline_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def daily_pipeline_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """After the close: ingest just the day's raw_bars partition, then score it."""
    return _todays_partition(context)


@dg.schedule(
    name="weekly_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 6 * * 6",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Saturday morning: (re)ingest Friday's partition and retrain on every stored day."""
    return _todays_partition(context)
