"""Raw daily bars, gated by blocking data-quality checks."""

from collections.abc import Iterator

import dagster as dg

from quant_assets.resources import MarketDataResource
from quant_engine.data.quality import extreme_moves, short_histories

EXTREME_MOVES = "no_extreme_moves"
SHORT_HISTORY = "sufficient_history"


class RawBarsConfig(dg.Config):
    max_abs_return: float = 0.5  # a close-to-close move beyond this is suspicious
    min_history: int = 252  # bars each symbol needs for the research stages


@dg.asset(
    group_name="market_data",
    kinds={"polars", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(EXTREME_MOVES, asset="raw_bars", blocking=True),
        dg.AssetCheckSpec(SHORT_HISTORY, asset="raw_bars", blocking=True),
    ],
)
def raw_bars(
    context: dg.AssetExecutionContext, config: RawBarsConfig, market_data: MarketDataResource
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Daily OHLCV bars of the universe in the canonical schema (validated on load)."""
    loaded = market_data.load()
    bars = loaded.bars
    context.log.info(f"loaded {bars.height} bars from {loaded.source}")
    metadata = {
        "source": loaded.source,
        "n_symbols": bars["symbol"].n_unique(),
        "n_days": bars["timestamp"].n_unique(),
        "first_date": str(bars["timestamp"].min()),
        "last_date": str(bars["timestamp"].max()),
    }
    if loaded.oracle_ic is not None:
        metadata["oracle_ic"] = loaded.oracle_ic
    yield dg.Output(bars, metadata=metadata)

    moves = extreme_moves(bars, config.max_abs_return)
    yield dg.AssetCheckResult(
        check_name=EXTREME_MOVES,
        passed=moves.height == 0,
        metadata={
            "count": moves.height,
            "examples": dg.MetadataValue.md(f"```\n{moves.head(10)}\n```"),
        },
    )
    short = short_histories(bars, config.min_history)
    yield dg.AssetCheckResult(
        check_name=SHORT_HISTORY,
        passed=short.height == 0,
        metadata={"count": short.height, "symbols": ", ".join(short["symbol"].to_list())},
    )
