"""Raw daily bars, one partition per trading day, gated by blocking data-quality checks.

A run fetches its partitions' window from the configured source (a backfill of years is one
run: ``BackfillPolicy.single_run()``) and checks it against the few days before it and against
what the store holds for those days. Only when every check passes does it yield its output, and
the bar-store IO manager commits all the run's days at once; when one fails the run fails, its
partitions are not materialized and the store stays byte for byte as it was. Downstream assets
are unpartitioned and read every stored day.
"""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from quant_assets.defs.market_data.partitions import trading_day_partitions, window_days
from quant_assets.metadata import frame_summary, rounded
from quant_assets.resources import IngestedBars, MarketDataResource
from quant_engine.data.ingest import IngestConfig, fetch_range
from quant_engine.data.quality import Finding

CHECKS = {
    "schema": "Every column is present with the canonical type (symbol, UTC timestamp, floats).",
    "ohlc_consistency": "Prices are positive and finite, volume is not negative, and open and"
    " close lie within [low, high].",
    "duplicates": "No (symbol, timestamp) appears twice.",
    "calendar_gaps": "Every session of the calendar in the window has bars, and no symbol skips"
    " a session between its first and last bar.",
    "non_trading_days": "No bar falls on a day the calendar has no session (weekend, holiday).",
    "stale_symbols": "No symbol repeats the same close and volume for max_flat_bars bars in a row.",
    "unexplained_jumps": "No close-to-close move beyond max_abs_return, or close to a common split"
    " ratio (2, 3, 3/2, 4, 5, 7, 10 or an inverse), without a corporate action explaining it.",
    "missing_symbols": "Every requested symbol, and every symbol stored on the window's days, is"
    " returned by the source (market_data.missing_symbols keeps or drops them explicitly).",
}


class RawBarsConfig(dg.Config):
    max_abs_return: float = 0.5  # a close-to-close move beyond this needs a corporate action
    split_tolerance: float = 0.03  # a move this close (relative) to a split ratio is a jump
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
    check_specs=[
        dg.AssetCheckSpec(name, asset="raw_bars", blocking=True, description=text)
        for name, text in CHECKS.items()
    ],
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
        split_tolerance=config.split_tolerance,
        max_flat_bars=config.max_flat_bars,
        lookback_days=config.lookback_days,
        missing_symbols=market_data.missing_symbols,
    )
    stored = context.resources.bar_store_io_manager.store(context.asset_key).read(start, end)
    history = source.fetch(symbols, start - timedelta(days=config.lookback_days), start)
    result = fetch_range(source, start, end, ingest, symbols, actions, history, stored)
    bars = result.bars
    context.log.info(f"{bars.height} bars for {start} to {end} from {market_data.describe()}")
    if result.missing:
        context.log.warning(
            f"market_data.missing_symbols={market_data.missing_symbols!r}: the source returned"
            f" no bars for {', '.join(result.missing)}"
        )
    failed = [f for f in result.findings if not f.passed]
    if failed:
        yield from (_check_result(finding) for finding in result.findings)
        summary = ", ".join(f"{f.check} ({f.count})" for f in failed)
        raise dg.Failure(
            description=f"raw_bars {start} to {end}: blocking check(s) failed: {summary};"
            " nothing was written to the store",
            metadata={f.check: dg.MetadataValue.md(f"```\n{f.examples(10)}\n```") for f in failed},
        )
    metadata = {
        "source": market_data.describe(),
        "calendar": ingest.calendar,
        **frame_summary(bars),
        "n_days": bars["timestamp"].n_unique(),
        "corporate_actions": 0 if actions is None else actions.height,
    }
    if result.missing:
        metadata[f"{market_data.missing_symbols}_symbols"] = ", ".join(result.missing)
    oracle_ic = market_data.oracle_ic()
    if oracle_ic is not None:
        metadata["oracle_ic"] = rounded(oracle_ic)
    days = [date.fromisoformat(key) for key in context.partition_keys]
    yield dg.Output(IngestedBars(bars, days, actions), metadata=metadata)
    for finding in result.findings:
        yield _check_result(finding)
