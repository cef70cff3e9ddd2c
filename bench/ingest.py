"""Benchmark: ingest a year of daily bars for 500 symbols from a CSV directory, then one day.

Targets (issue 4): the year (fetch + validate + quality checks + one Parquet file per session)
in under 10 s; one new day appended in under 1 s. Files are per-symbol CSVs written from the
synthetic market (weekday sessions, calendar "24/5"); the new day is one more row per file.
Run: ``.venv/bin/python bench/ingest.py [--symbols 500] [--days 252] [--repeat 3]``
Prints one JSON line with the best and all timings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.calendars import BUSINESS_DAYS
from quant_engine.data.ingest import IngestConfig, ingest
from quant_engine.data.sources.directory import DirectorySource, DirectorySourceConfig
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore


def write_csv_directory(bars: pl.DataFrame, directory: Path) -> None:
    """One ``<SYMBOL>.csv`` per symbol with timestamp,open,high,low,close,volume."""
    directory.mkdir(parents=True, exist_ok=True)
    for (symbol,), part in bars.partition_by("symbol", as_dict=True).items():
        part.select(
            pl.col("timestamp").dt.strftime("%Y-%m-%d"), "open", "high", "low", "close", "volume"
        ).write_csv(directory / f"{symbol}.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=252)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    market = SyntheticSource(SyntheticMarketConfig(n_symbols=args.symbols, n_days=args.days + 1))
    days = market.days()
    first, new_day = days[0], days[-1]
    config = IngestConfig(calendar=BUSINESS_DAYS)
    year_timings, day_timings = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = root / "csv"
        write_csv_directory(market.fetch(None, first, new_day), csv)
        source = DirectorySource(DirectorySourceConfig(csv, calendar=BUSINESS_DAYS))
        for attempt in range(args.repeat):
            store = BarStore(root / f"store{attempt}")
            started = time.perf_counter()
            year = ingest(source, store, first, new_day, config)
            year_timings.append(time.perf_counter() - started)
            assert year.passed and len(store.days()) == args.days

        write_csv_directory(market.fetch(None, first, new_day + timedelta(days=1)), csv)
        for attempt in range(args.repeat):
            store = BarStore(root / f"store{attempt}")
            started = time.perf_counter()
            one = ingest(source, store, new_day, new_day + timedelta(days=1), config)
            day_timings.append(time.perf_counter() - started)
            assert one.passed and one.bars.height == args.symbols
            shutil.copyfile(store.path(new_day), root / "last.parquet")
        rows = store.scan().select(pl.len()).collect().item()
    result = {
        "benchmark": "ingest_csv_directory",
        "symbols": args.symbols,
        "sessions": args.days,
        "rows_stored": rows,
        "year_seconds_best": round(min(year_timings), 2),
        "year_seconds_all": [round(t, 2) for t in year_timings],
        "new_day_seconds_best": round(min(day_timings), 3),
        "new_day_seconds_all": [round(t, 3) for t in day_timings],
        "targets": {"year_seconds": 10, "new_day_seconds": 1},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
