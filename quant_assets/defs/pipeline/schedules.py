"""Jobs and schedules: the daily pipeline (no retrain) and the weekly retrain."""

import dagster as dg

daily_pipeline_job = dg.define_asset_job(
    "daily_pipeline_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("alpha_model"),
    description="New bars -> features -> signals from the current model -> backtest.",
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.all(),
    description="The whole graph, retraining the alpha model walk-forward.",
    tags={"quant/workload": "training"},
)

daily_pipeline_schedule = dg.ScheduleDefinition(
    name="daily_pipeline_schedule",
    job=daily_pipeline_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule",
    job=retrain_job,
    cron_schedule="0 6 * * 6",
    execution_timezone="America/New_York",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
