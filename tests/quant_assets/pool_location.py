"""A tiny code location whose job takes a slot of the rebalance pool, for the test that runs
started at once on a newly prepared production database all succeed."""

import dagster as dg

POOL = "broker_account"  # quant_assets.defs.live.assets.POOL (a test keeps them equal)


@dg.op(pool=POOL)
def pooled_step() -> int:
    return 1


@dg.job(tags={"quant/test": "pool"})
def pooled_job() -> None:
    pooled_step()


defs = dg.Definitions(jobs=[pooled_job])
