"""One portfolio config: what ``backtest`` tests is what ``target_portfolio`` trades."""

import shutil

import dagster as dg
import polars as pl
import pytest

from quant_assets.definitions import defs
from quant_assets.defs.live.assets import target_portfolio
from quant_assets.resources import (
    BarStoreIOManager,
    IngestedBars,
    MarketDataResource,
    PolarsParquetIOManager,
    PortfolioResource,
)
from tests.conftest import SMALL_MARKET, spine_assets


def test_backtest_and_target_portfolio_give_the_same_last_day_weights(
    materialized_home, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    shutil.copytree(materialized_home, home)  # the shared home stays as the pipeline made it
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    portfolio = PortfolioResource(mode="long_only", top_k=3, max_weight=0.3)  # not the default
    definitions = defs()
    tested = dg.materialize(
        spine_assets(definitions),
        selection=["backtest"],  # upstream assets load from the copied home
        resources={
            **definitions.resources,
            "market_data": MarketDataResource(**SMALL_MARKET),
            "portfolio": portfolio,
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    (event,) = tested.get_asset_materialization_events()
    last = event.materialization.metadata["long_only.last_weights"].value
    # The last rebalance traded at an open on the signals of the bar before it.
    bars = pl.read_parquet(home / "assets" / "raw_bars.parquet")
    signals = pl.read_parquet(home / "assets" / "signals.parquet")
    days = bars["timestamp"].unique().sort().to_list()
    decided = days[[str(d) for d in days].index(last["traded_at"]) - 1]

    @dg.asset(name="signals")
    def signals_then() -> pl.DataFrame:
        return signals.filter(pl.col("timestamp") <= decided)

    @dg.asset(name="raw_bars", io_manager_key="bar_store_io_manager")
    def bars_then() -> IngestedBars:
        kept = bars.filter(pl.col("timestamp") <= decided)
        return IngestedBars(kept, kept["timestamp"].dt.date().unique().sort().to_list())

    traded = dg.materialize(
        [signals_then, bars_then, target_portfolio],
        resources={
            "portfolio": portfolio,
            "io_manager": PolarsParquetIOManager(base_dir=str(tmp_path / "live")),
            "bar_store_io_manager": BarStoreIOManager(base_dir=str(tmp_path / "live")),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    frame = traded.output_for_node("target_portfolio").filter(pl.col("weight") != 0)
    assert frame["trading_day"][0] == decided.date()
    live = dict(zip(frame["symbol"], frame["weight"], strict=True))
    assert len(live) == 3 and max(live.values()) <= 0.3  # the config's top_k and cap
    assert live == pytest.approx(last["weights"], abs=1e-12)
