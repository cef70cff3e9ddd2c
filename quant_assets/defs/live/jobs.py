"""The rebalance job: trade to the day's targets, then reconcile."""

import dagster as dg

ACCOUNT_TAG = "quant/broker_account"  # dagster.yaml allows one run per value at a time

rebalance_job = dg.define_asset_job(
    "rebalance_job",
    selection=dg.AssetSelection.assets("rebalance", "reconciliation"),
    description="Bring the broker account to target_portfolio (dry-run unless configured), "
    "then reconcile positions, targets and the order journal.",
    tags={"quant/workload": "trading"},
)
