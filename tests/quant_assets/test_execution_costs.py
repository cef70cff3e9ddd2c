"""The execution_costs asset: shortfall per algorithm on the small synthetic market."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from quant_assets.definitions import defs
from quant_assets.defs.market_data.partitions import backfill_tags
from quant_assets.resources import MarketDataResource
from quant_engine.data.store import BarStore
from quant_engine.execution.bars import BarExecutionConfig
from quant_engine.execution.study import StudyConfig, execution_cost_table
from tests.conftest import SMALL_MARKET

# Fewer days than the shared small market: a quarter of trading is plenty for 4-bar parents.
MARKET = {**SMALL_MARKET, "n_symbols": 6, "n_days": 160}
RUN_CONFIG = {
    "execution_costs": {
        "config": {"n_starts": 3, "n_bars": 4, "pct_adv": 0.02, "algorithms": ["twap", "is", "pov"]}
    },
}


def test_execution_costs_materializes_shortfall_per_algorithm(quant_home):
    definitions = defs()
    market_data = MarketDataResource(**MARKET)
    result = dg.materialize(
        [
            a
            for a in definitions.assets
            if a.key.to_user_string() in ("raw_bars", "execution_costs")
        ],
        resources={**definitions.resources, "market_data": market_data},
        run_config={"ops": RUN_CONFIG},
        instance=dg.DagsterInstance.ephemeral(),
        tags=backfill_tags(market_data),
    )
    assert result.success
    table = result.output_for_node("execution_costs")
    n_symbols = MARKET["n_symbols"]
    assert table.height == n_symbols * 3 * 3
    assert sorted(table["algorithm"].unique().to_list()) == ["is", "pov", "twap"]
    # the asset is the engine's study on the stored bars, with the asset's config
    bars = BarStore(quant_home / "assets" / "raw_bars.parquet").read()
    expected = execution_cost_table(
        bars.sort("symbol", "timestamp"),
        StudyConfig(
            pct_adv=0.02,
            n_starts=3,
            algorithms=("twap", "is", "pov"),
            execution=BarExecutionConfig(n_slots=4),
        ),
    )
    assert table.equals(expected)
    stored = pl.read_parquet(quant_home / "assets" / "execution_costs.parquet")
    assert stored.equals(table)

    (event,) = [
        e.materialization
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == "execution_costs"
    ]
    meta = event.metadata
    assert meta["n_parent_orders"].value == n_symbols * 3
    for algorithm in ("twap", "is", "pov"):
        rows = table.filter(pl.col("algorithm") == algorithm)["shortfall_bps"]
        assert meta[f"{algorithm}.mean_bps"].value == pytest.approx(rows.mean())
        assert meta[f"{algorithm}.p50_bps"].value == pytest.approx(rows.median())
        assert meta[f"{algorithm}.p05_bps"].value <= meta[f"{algorithm}.p95_bps"].value
    assert "| algorithm | n | mean_bps |" in meta["summary"].value
