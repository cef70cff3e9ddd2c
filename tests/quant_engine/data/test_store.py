"""The partitioned bar store: one file per day, deterministic bytes, atomic replacement."""

import hashlib
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore
from tests.conftest import REPO_ROOT

TWO_YEARS = SyntheticMarketConfig(n_symbols=8, n_days=505, seed=3)  # 504 days, then one more


def _digests(store: BarStore) -> dict[date, str]:
    return {day: hashlib.sha256(store.path(day).read_bytes()).hexdigest() for day in store.days()}


def test_backfill_then_one_day_leaves_old_partitions_byte_identical(tmp_path: Path):
    source = SyntheticSource(TWO_YEARS)
    days = source.days()
    backfill_end = days[-1]  # the last day comes later
    store = BarStore(tmp_path / "raw_bars")
    store.write(source.fetch(None, days[0], backfill_end))
    before = _digests(store)
    assert len(before) == 504
    mtimes = {day: store.path(day).stat().st_mtime_ns for day in before}

    store.write(source.fetch(None, backfill_end, backfill_end + timedelta(days=1)))
    after = _digests(store)
    assert set(after) - set(before) == {backfill_end}
    assert {day: after[day] for day in before} == before
    assert {day: store.path(day).stat().st_mtime_ns for day in before} == mtimes

    # Re-running the whole backfill into a fresh store (another process could) gives the
    # same bytes: the files depend on the bars alone.
    again = BarStore(tmp_path / "again")
    again.write(source.fetch(None, days[0], backfill_end + timedelta(days=1)))
    assert _digests(again) == after
    assert store.read().equals(source.market.bars.sort("symbol", "timestamp"))


def test_scan_is_lazy_over_every_partition_and_filters_by_day(tmp_path: Path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=3, n_days=70, seed=1))
    store = BarStore(tmp_path / "bars")
    store.write(source.fetch(None, date(2016, 1, 1), date(2017, 1, 1)))
    lazy = store.scan()
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.select(pl.len()).collect().item() == 3 * 70
    january = store.read(date(2016, 1, 1), date(2016, 2, 1))
    assert january["timestamp"].dt.month().unique().to_list() == [1]
    assert january.height == 3 * 20  # 20 weekdays from Monday 2016-01-04
    assert BarStore(tmp_path / "nothing").read().height == 0


def test_a_day_without_bars_is_an_empty_partition_and_off_day_bars_are_refused(tmp_path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=2, n_days=70, seed=1))
    store = BarStore(tmp_path / "bars")
    holiday = date(2016, 1, 18)
    paths = store.write(source.fetch(None, date(2016, 1, 4), date(2016, 1, 6)), days=[holiday])
    assert [p.name for p in paths] == [
        "2016-01-04.parquet",
        "2016-01-05.parquet",
        "2016-01-18.parquet",
    ]
    assert pl.read_parquet(store.path(holiday)).height == 0
    with pytest.raises(ValueError, match=r"2 bar\(s\) do not fall on 2016-01-04"):
        store.write_day(date(2016, 1, 4), source.fetch(None, date(2016, 1, 5), date(2016, 1, 6)))


# The ingest in another process, stopped half-way through writing its temporary file: the real
# write runs, then the file is cut to half its size (as if the kill came mid-write) and the
# process waits to be killed before it could rename anything.
_TORN_WRITER = """
import os, sys, time
from datetime import date, timedelta
import polars as pl
from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore

real_write = pl.DataFrame.write_parquet

def write_then_stall(self, path, **kwargs):
    real_write(self, path, **kwargs)
    os.truncate(path, os.path.getsize(path) // 2)
    print("mid-write", flush=True)
    time.sleep(600)

pl.DataFrame.write_parquet = write_then_stall
source = SyntheticSource(SyntheticMarketConfig(n_symbols=50, n_days=70, seed=2))
day = date(2016, 1, 4)
BarStore(sys.argv[1]).write(source.fetch(None, day, day + timedelta(days=1)))
"""


def test_sigkill_during_a_rewrite_leaves_the_previous_partition_intact(tmp_path: Path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=5, n_days=70, seed=1))
    store = BarStore(tmp_path / "bars")
    day = date(2016, 1, 4)
    store.write(source.fetch(None, day, day + timedelta(days=1)))
    original = store.path(day).read_bytes()

    writer = subprocess.Popen(
        [sys.executable, "-c", _TORN_WRITER, str(store.root)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "mid-write"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    torn = list(store.staging.glob("*.tmp"))
    assert len(torn) == 1 and torn[0].stat().st_size > 0  # the killed write's half file
    assert store.path(day).read_bytes() == original
    assert store.days() == [day] and [p.name for p in store.root.iterdir()] == [f"{day}.parquet"]
    assert pl.read_parquet(store.root).equals(store.read())  # the directory reads as one table
    assert store.read().equals(source.fetch(None, day, day + timedelta(days=1)))

    # Running the ingest again replaces the partition as a whole.
    bigger = SyntheticSource(SyntheticMarketConfig(n_symbols=50, n_days=70, seed=2))
    store.write(bigger.fetch(None, day, day + timedelta(days=1)))
    assert store.read().height == 50
