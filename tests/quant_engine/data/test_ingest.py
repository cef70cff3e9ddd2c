"""ingest: fetch, check against the stored days before, store one file per session."""

import hashlib
from datetime import date, timedelta

import polars as pl

from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.calendars import BUSINESS_DAYS
from quant_engine.data.ingest import IngestConfig, ingest
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore

CONFIG = IngestConfig(calendar=BUSINESS_DAYS)


def _digests(store: BarStore) -> dict:
    return {day: hashlib.sha256(store.path(day).read_bytes()).hexdigest() for day in store.days()}


class _Spliced:
    """The synthetic market with one symbol's prices quartered from ``day`` on (a split
    whose action nobody recorded)."""

    name = "spliced"

    def __init__(self, source: SyntheticSource, day: date) -> None:
        self.source, self.day = source, day

    def fetch(self, symbols, start, end, timeframe="1d"):
        bars = self.source.fetch(symbols, start, end, timeframe)
        after = (pl.col("symbol") == "S001") & (pl.col("timestamp").dt.date() >= self.day)
        return bars.with_columns(
            pl.when(after).then(pl.col(c) / 4).otherwise(pl.col(c)).alias(c)
            for c in ("open", "high", "low", "close")
        )


def test_a_new_day_is_checked_against_the_stored_day_before_it(tmp_path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=3, n_days=80, seed=6))
    days = source.days()
    store = BarStore(tmp_path / "bars.parquet")
    history = ingest(source, store, days[0], days[-2], CONFIG)
    assert history.passed and len(store.days()) == 78
    before = _digests(store)
    new_day = days[-2]
    spliced = _Spliced(source, new_day)
    result = ingest(spliced, store, new_day, new_day + timedelta(days=1), CONFIG)
    jumps = {f.check: f for f in result.findings}["unexplained_jumps"]
    assert jumps.count == 1  # judged against the stored close of the day before
    assert jumps.rows.select("symbol", pl.col("timestamp").dt.date()).row(0) == ("S001", new_day)
    assert store.days()[-1] == days[-3] and _digests(store) == before  # nothing written
    # A session inside the range that the source has no bars for is reported, and the range
    # is not written (not even its days with bars).
    weekend_and_more = ingest(source, store, days[-1], days[-1] + timedelta(days=7), CONFIG)
    gaps = {f.check: f for f in weekend_and_more.findings}["calendar_gaps"]
    assert gaps.count == 4  # the four weekdays after the market's last day
    assert _digests(store) == before
    # Passing days are committed as one.
    assert ingest(source, store, new_day, days[-1] + timedelta(days=1), CONFIG).passed
    assert len(store.days()) == 80


def test_a_symbol_the_source_does_not_return_fails_and_erases_nothing(tmp_path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=3, n_days=70, seed=6))
    days = source.days()[:30]
    store = BarStore(tmp_path / "bars.parquet")
    assert ingest(source, store, days[0], days[-1], CONFIG).passed
    before = _digests(store)
    typo = ["S000", "S001", "S002 "]
    result = ingest(source, store, days[0], days[-1], CONFIG, symbols=typo)
    missing = {f.check: f for f in result.findings}["missing_symbols"]
    assert missing.rows.rows() == [
        ("S002", "stored on these days, but not returned", 29),
        ("S002 ", "requested, but the source returned no bars", 0),
    ]
    assert _digests(store) == before
    # Keeping or dropping a symbol's history is an explicit choice.
    keep = IngestConfig(calendar=BUSINESS_DAYS, missing_symbols="keep")
    kept = ingest(source, store, days[0], days[-1], keep, symbols=["S000", "S001"])
    assert kept.passed and kept.missing == ["S002"] and _digests(store) == before
    drop = IngestConfig(calendar=BUSINESS_DAYS, missing_symbols="drop")
    assert ingest(source, store, days[0], days[-1], drop, symbols=["S000", "S001"]).passed
    assert store.read()["symbol"].unique().sort().to_list() == ["S000", "S001"]
