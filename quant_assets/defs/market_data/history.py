"""Seed the bar store with a source's history outside a Dagster run, for the demo and tests.

A Dagster run over thousands of partitions writes several events per partition into the
instance's storage (SQLite: one write each), which costs minutes for years of days. The demo
therefore ingests all days but the last with the engine's own ``ingest`` (the same fetch,
checks and per-day files as the raw_bars asset), records each seeded day as a materialized
partition of raw_bars (one runless event per day, :func:`record_history`), and then runs the
pipeline for the last day's partition. Dagster-tracked backfills over any range (single run)
still work from the UI.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from quant_assets.resources.market_data import MarketDataResource
from quant_engine.data.ingest import IngestConfig, ingest
from quant_engine.data.store import BarStore
from quant_engine.paths import QuantHome


def raw_bars_store(base_dir: str = "") -> BarStore:
    """The raw_bars store the bar-store IO manager uses for ``base_dir`` (default QUANT_HOME)."""
    return BarStore(Path(base_dir or QuantHome.resolve().assets) / "raw_bars.parquet")


def seed_history(
    market_data: MarketDataResource,
    base_dir: str = "",
    max_abs_return: float | None = None,
    split_tolerance: float | None = None,
) -> date:
    """Ingest every day the source has except the last into the store; return that last day.

    ``max_abs_return`` and ``split_tolerance`` override the jump check's thresholds (as
    ``raw_bars``' config does).
    Raises ``ValueError`` naming the failed checks when the history does not pass them.
    """
    first, last = market_data.available_days()
    store = raw_bars_store(base_dir)
    given = {"max_abs_return": max_abs_return, "split_tolerance": split_tolerance}
    thresholds = {name: value for name, value in given.items() if value is not None}
    if last > first:
        actions = market_data.actions()
        result = ingest(
            market_data.bar_source(),
            store,
            first,
            last,
            IngestConfig(calendar=market_data.calendar_name(), **thresholds),
            market_data.universe(),
            actions,
        )
        failed = {f.check: f.count for f in result.findings if not f.passed}
        if failed:
            raise ValueError(f"history {first} to {last - timedelta(days=1)} fails: {failed}")
    return last


def record_history(instance: dg.DagsterInstance, base_dir: str = "") -> int:
    """Record every stored day of the bar store as a materialized raw_bars partition (with its
    row and symbol counts); returns how many were recorded.

    Days whose partition is already materialized in ``instance`` are left alone.
    """
    from quant_assets.defs.market_data.partitions import partition_key

    key = dg.AssetKey("raw_bars")
    done = instance.get_materialized_partitions(key)
    counts = (
        raw_bars_store(base_dir)
        .scan()
        .group_by(pl.col("timestamp").dt.date().alias("day"))
        .agg(pl.len().alias("rows"), pl.col("symbol").n_unique().alias("symbols"))
        .sort("day")
        .collect()
    )
    per_partition: dict[str, tuple[int, int]] = {}
    for day, rows, symbols in counts.iter_rows():  # a weekend's days belong to Friday's
        before = per_partition.get(partition_key(day), (0, 0))
        per_partition[partition_key(day)] = (before[0] + rows, max(before[1], symbols))
    recorded = 0
    for partition, (rows, symbols) in per_partition.items():
        if partition in done:
            continue
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                key,
                partition=partition,
                description="seeded by `quant demo` (engine ingest, the same checks)",
                metadata={"dagster/row_count": rows, "n_symbols": symbols},
            )
        )
        recorded += 1
    return recorded
