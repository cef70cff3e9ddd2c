"""Raw daily bars, one partition per trading day, gated by blocking data-quality checks.

A run ingests its partitions' window from the configured source (a backfill of years is one
run: ``BackfillPolicy.single_run()``), checks it against the few days before it, and stores one
Parquet file per day. Downstream assets are unpartitioned and read every stored day.
"""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from quant_assets.defs.market_data.partitions import trading_day_partitions, window_days
from quant_assets.metadata import frame_summary
from quant_assets.resources import IngestedBars, MarketDataResource
from quant_engine.data.ingest import IngestConfig, fetch_range
from quant_engine.data.quality import Finding

CHECKS = (
    "schema",
    "ohlc_consistency",
    "duplicates",
    "calendar_gaps",
    "non_trading_days",
    "stale_symbols",
    "unexplained_jumps",
)


class RawBarsConfig(dg.Config):
    max_abs_return: float = 0.5  # a close-to-close move beyond this needs a corporate action
    max_flat_bars: int = 5  # this many identical bars in a row make a symbol stale
    lookback_days: int = 10  # calendar days fetched before the window, as the checks' context


def _check_result(finding: Finding) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=finding.check,
        passed=finding.passed,
        metadata={
            "count": finding.count,
            "examples": dg.MetadataValue.md(f"```\n{finding.examples(10)}\n```"),
        },
    )


@dg.asset(
    group_name="market_data",
    kinds={"polars", "parquet"},
    partitions_def=trading_day_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="bar_store_io_manager",
    check_specs=[dg.AssetCheckSpec(name, asset="raw_bars", blocking=True) for name in CHECKS],
)
def raw_bars(
    context: dg.AssetExecutionContext, config: RawBarsConfig, market_data: MarketDataResource
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Daily OHLCV bars (raw, as traded) of the universe in the canonical schema."""
    start, end = window_days(context.partition_time_window)
    source = market_data.bar_source()
    symbols = market_data.universe()
    actions = market_data.actions()
    ingest = IngestConfig(
        calendar=market_data.calendar_name(),
        max_abs_return=config.max_abs_return,
        max_flat_bars=config.max_flat_bars,
        lookback_days=config.lookback_days,
    )
    history = source.fetch(symbols, start - timedelta(days=config.lookback_days), start)
    result = fetch_range(source, start, end, ingest, symbols, actions, history)
    bars = result.bars
    context.log.info(f"{bars.height} bars for {start} to {end} from {market_data.describe()}")
    metadata = {
        "source": market_data.describe(),
        "calendar": ingest.calendar,
        **frame_summary(bars),
        "n_days": bars["timestamp"].n_unique(),
        "corporate_actions": 0 if actions is None else actions.height,
    }
    oracle_ic = market_data.oracle_ic()
    if oracle_ic is not None:
        metadata["oracle_ic"] = oracle_ic
    days = [date.fromisoformat(key) for key in context.partition_keys]
    yield dg.Output(IngestedBars(bars, days, actions), metadata=metadata)
    for finding in result.findings:
        yield _check_result(finding)
