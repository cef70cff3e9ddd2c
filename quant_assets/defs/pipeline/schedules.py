"""Jobs and schedules: the daily pipeline (no retrain), the weekly retrain, the model zoo."""

import dagster as dg

MODEL_ZOO = dg.AssetSelection.groups("model_zoo")

daily_pipeline_job = dg.define_asset_job(
    "daily_pipeline_job",
    selection=dg.AssetSelection.all() - MODEL_ZOO - dg.AssetSelection.assets("alpha_model"),
    description="New bars -> features -> signals from the champion model -> backtest.",
)
retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.all() - MODEL_ZOO,
    description="The whole pipeline, retraining the LightGBM challenger walk-forward.",
    tags={"quant/workload": "training"},
)
model_zoo_job = dg.define_asset_job(
    "model_zoo_job",
    selection=MODEL_ZOO,
    description="Every further model family, each a challenger for the champion alias.",
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
