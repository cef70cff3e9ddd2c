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
from quant_engine.data.store import BarStore, BarStoreConfig, StoreLockedError
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


# A backfill in another process, stopped half-way through writing its third day file: the real
# write runs, then the file is cut to half its size (as if the kill came mid-write) and the
# process waits to be killed before it could finish the generation.
_TORN_WRITER = """
import os, sys, time
from datetime import date
import polars as pl
from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore

real_write = pl.DataFrame.write_parquet
calls = []

def write_then_stall(self, path, **kwargs):
    real_write(self, path, **kwargs)
    calls.append(path)
    if len(calls) == 3:
        os.truncate(path, os.path.getsize(path) // 2)
        print("mid-write", flush=True)
        time.sleep(600)

pl.DataFrame.write_parquet = write_then_stall
source = SyntheticSource(SyntheticMarketConfig(n_symbols=50, n_days=70, seed=2))
BarStore(sys.argv[1]).write(source.fetch(None, date(2016, 1, 4), date(2016, 1, 16)))
"""


def _kill_mid_write(store: BarStore) -> None:
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


def _leftovers(store: BarStore) -> list[Path]:
    return [
        p
        for p in store.root.parent.rglob("*")
        if p.name.endswith((".tmp", ".building")) or p.parent == store.staging
    ]


def test_sigkill_during_a_backfill_leaves_the_previous_store_intact(tmp_path: Path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=5, n_days=70, seed=1))
    store = BarStore(tmp_path / "bars")
    day = date(2016, 1, 4)
    store.write(source.fetch(None, day, day + timedelta(days=1)))
    original = _digests(store)

    _kill_mid_write(store)
    assert [p.name for p in _leftovers(store)] == ["00000001.building"]  # the killed write
    assert _digests(store) == original  # not one of its days is visible
    assert store.days() == [day] and [p.name for p in store.root.iterdir()] == [f"{day}.parquet"]
    assert pl.read_parquet(store.root).equals(store.read())  # the directory reads as one table
    assert store.read().equals(source.fetch(None, day, day + timedelta(days=1)))

    # The next write removes what the killed one left and gives the bytes of a clean run.
    bigger = SyntheticSource(SyntheticMarketConfig(n_symbols=50, n_days=70, seed=2))
    store.write(bigger.fetch(None, date(2016, 1, 4), date(2016, 1, 16)))
    assert _leftovers(store) == []
    clean = BarStore(tmp_path / "clean")
    clean.write(bigger.fetch(None, date(2016, 1, 4), date(2016, 1, 16)))
    assert _digests(store) == _digests(clean) and len(_digests(clean)) == 10


# Two writers of one store: each holds the lock for its whole commit; readers in between see
# one writer's store or the other's, never days of both.
_WRITER = """
import sys
from datetime import date
from quant_engine.data import SyntheticMarketConfig
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.store import BarStore

source = SyntheticSource(SyntheticMarketConfig(n_symbols=20, n_days=70, seed=int(sys.argv[2])))
bars = source.fetch(None, date(2016, 1, 4), date(2016, 3, 1))
for _ in range(4):
    BarStore(sys.argv[1]).write(bars)
"""


def test_two_concurrent_writers_never_interleave(tmp_path: Path):
    store = BarStore(tmp_path / "bars")
    expected = {
        seed: SyntheticSource(SyntheticMarketConfig(n_symbols=20, n_days=70, seed=seed))
        .fetch(None, date(2016, 1, 4), date(2016, 3, 1))
        .sort("symbol", "timestamp")
        for seed in (1, 2)
    }
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store.root), str(seed)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        for seed in expected
    ]
    while any(w.poll() is None for w in writers):
        bars = store.read()
        if bars.height:
            matches = [seed for seed, frame in expected.items() if bars.equals(frame)]
            assert len(matches) == 1, "a reader saw days of both writers"
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    final = store.read()
    assert any(final.equals(frame) for frame in expected.values())
    assert _leftovers(store) == []


def test_a_second_writer_waits_for_the_lock_then_fails_clearly(tmp_path: Path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=2, n_days=70, seed=1))
    bars = source.fetch(None, date(2016, 1, 4), date(2016, 1, 6))
    store = BarStore(tmp_path / "bars")
    impatient = BarStore(BarStoreConfig(tmp_path / "bars", lock_timeout_s=0.2))
    locked = pytest.raises(StoreLockedError, match=rf"pid {os.getpid()} has been writing it")
    with store.lock(), locked:
        impatient.write(bars)
    assert store.days() == []
    impatient.write(bars)
    assert len(store.days()) == 2


def test_a_store_in_the_older_plain_folder_layout_keeps_its_days_on_the_next_write(tmp_path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=2, n_days=70, seed=1))
    root = tmp_path / "bars"
    root.mkdir()
    first = date(2016, 1, 4)
    source.fetch(None, first, first + timedelta(days=1)).write_parquet(root / f"{first}.parquet")
    store = BarStore(root)
    assert store.days() == [first]
    store.write(source.fetch(None, date(2016, 1, 5), date(2016, 1, 6)))
    assert root.is_symlink() and store.days() == [first, date(2016, 1, 5)]
    assert store.read().equals(source.fetch(None, first, date(2016, 1, 6)))


def test_the_stored_symbols_are_counted_from_the_days_each_write_replaces(tmp_path: Path):
    source = SyntheticSource(SyntheticMarketConfig(n_symbols=4, n_days=80))
    days = source.days()
    store = BarStore(tmp_path / "raw_bars")
    assert store.symbols() == []
    store.write(source.fetch(["S000", "S001"], days[0], days[5]))
    store.write(source.fetch(["S002"], days[5], days[6]))  # a new day with a new symbol
    assert store.symbols() == ["S000", "S001", "S002"]
    day = days[5]  # that day replaced without S002: no day holds it any more
    store.write(source.fetch(["S003"], day, day + timedelta(days=1)))
    assert store.symbols() == ["S000", "S001", "S003"]
    store.write(source.fetch(["S001"], days[0], days[2]), days=days[:2])
    assert store.symbols() == ["S000", "S001", "S003"]
    counted = store.scan().select(pl.col("symbol").unique().sort()).collect()["symbol"].to_list()
    assert store.symbols() == counted
    # A record another generation left (a writer killed before writing it) is not used.
    store.symbols_path.write_text('{"generation": 0, "symbol_days": {"S009": 1}}')
    assert store.symbols() == counted
    store.write(source.fetch(["S002"], days[6], days[7]))
    assert store.symbols() == sorted([*counted, "S002"])
