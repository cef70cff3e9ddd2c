"""The rebalance job (trade to the day's targets, then reconcile) and the reconcile job."""

import dagster as dg

ACCOUNT_TAG = "quant/broker_account"  # dagster.yaml allows one run per value at a time
DAY_TAG = "quant/trading_day"

rebalance_job = dg.define_asset_job(
    "rebalance_job",
    selection=dg.AssetSelection.assets("rebalance", "reconciliation"),
    description="Bring one broker account (the partition) to target_portfolio (dry-run unless "
    "configured), then reconcile positions, targets and the order journal.",
    tags={"quant/workload": "trading"},
    # One process per run: its steps run one at a time anyway (the pool), and a crash of that
    # process is what the watchdog detects and releases.
    executor_def=dg.in_process_executor,
)

reconcile_job = dg.define_asset_job(
    "reconcile_job",
    selection=dg.AssetSelection.assets("reconciliation"),
    description="Reconcile one broker account after the open: its market-on-open fills, "
    "positions against targets, slippage against the open.",
    tags={"quant/workload": "trading"},
    executor_def=dg.in_process_executor,
)
