"""raw_bars: daily partitions, bad data fails or is checked, failed checks block downstream."""

import hashlib
import os
import signal
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from quant_assets.definitions import defs
from quant_assets.defs.market_data.partitions import backfill_tags, range_tags
from quant_assets.resources import BarStoreIOManager, MarketDataResource
from quant_engine.data.store import BarStore
from tests.conftest import REPO_ROOT
from tests.quant_engine.data.bad_inputs import BAD_INPUTS, GOOD_ROWS, csv_text

GOOD_DAYS = range_tags(date(2024, 1, 2), date(2024, 1, 4))


def _materialize(
    directory: Path,
    selection: list[str],
    tags: dict[str, str] = GOOD_DAYS,
    **market: str,
) -> dg.ExecuteInProcessResult:
    definitions = defs()
    return dg.materialize(
        [a for a in definitions.assets if a.key.to_user_string() in selection],
        resources={
            **definitions.resources,
            "market_data": MarketDataResource(
                source="directory", directory=str(directory), **market
            ),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags=tags,
    )


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file()) if home.exists() else []


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }


def _store(home: Path) -> BarStore:
    return BarStore(home / "assets" / "raw_bars.parquet")


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_raw_bars_with_its_message_and_writes_nothing(quant_home, tmp_path, case):
    content, expected = BAD_INPUTS[case]
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "BAD.csv").write_text(content)
    result = _materialize(data, ["raw_bars"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert expected in str(failure.step_failure_data.error)
    assert [p for p in _files(quant_home) if p.suffix in (".parquet", ".csv", ".tmp")] == []


def test_unexplained_jump_fails_its_check_and_skips_downstream(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))
    # A tenfold jump in one day: valid OHLC, but not believable without a corporate action.
    (data / "JUMP.csv").write_text(csv_text(GOOD_ROWS[0], "2024-01-03,10.5,120,10,110,1200"))
    result = _materialize(data, ["raw_bars", "features"])
    assert not result.success
    checks = _checks(result)
    assert checks["unexplained_jumps"].passed is False
    assert checks["unexplained_jumps"].metadata["count"].value == 1
    examples = checks["unexplained_jumps"].metadata["examples"].value
    assert "JUMP" in examples and "2024-01-03" in examples
    assert [name for name, check in checks.items() if not check.passed] == ["unexplained_jumps"]
    assert _materialized(result) == set()  # a failed blocking check: not materialized
    assert _files(quant_home / "assets") == []  # and nothing stored


def test_a_corporate_action_on_file_explains_the_jump_and_adjusts_downstream(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "JUMP.csv").write_text(csv_text(GOOD_ROWS[0], "2024-01-03,105,120,100,110,120"))
    actions = tmp_path / "actions.csv"  # a 1-for-10 reverse split
    actions.write_text("symbol,ex_date,split_ratio,dividend\nJUMP,2024-01-03,0.1,0\n")
    result = _materialize(data, ["raw_bars"], corporate_actions=str(actions))
    assert result.success and _checks(result)["unexplained_jumps"].passed
    store = _store(quant_home)
    raw = store.read().filter(pl.col("symbol") == "JUMP")
    assert raw["close"].to_list() == [10.5, 110.0]  # stored as traded
    assert store.actions()["split_ratio"].to_list() == [0.1]

    # What downstream assets load: adjusted for the split.
    features = _materialize(data, ["raw_bars", "features"], corporate_actions=str(actions))
    assert features.success
    loaded = pl.read_parquet(quant_home / "assets" / "features.parquet")
    assert loaded.filter(pl.col("symbol") == "JUMP").height == 2


def test_bars_on_a_closed_day_and_missing_sessions_fail_their_checks(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "GOOD.csv").write_text(csv_text(*GOOD_ROWS, "2024-01-06,11.5,12,11,11.8,900"))
    (data / "GAPPY.csv").write_text(csv_text(GOOD_ROWS[0], GOOD_ROWS[2]))
    result = _materialize(data, ["raw_bars"], tags=range_tags(date(2024, 1, 2), date(2024, 1, 5)))
    checks = _checks(result)
    closed = checks["non_trading_days"]
    assert closed.passed is False and closed.metadata["count"].value == 1
    assert "2024-01-06" in closed.metadata["examples"].value  # a Saturday on XNYS
    gaps = checks["calendar_gaps"]
    assert gaps.passed is False
    assert "GAPPY" in gaps.metadata["examples"].value
    assert "2024-01-03" in gaps.metadata["examples"].value
    # GAPPY on the 3rd; Friday the 5th for GOOD (it has a later bar) and for everybody.
    assert gaps.metadata["count"].value == 3


def test_clean_directory_passes_and_is_stored_one_file_per_day(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "A.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "B.csv").write_text(csv_text(*GOOD_ROWS))
    result = _materialize(data, ["raw_bars"])
    assert result.success and all(c.passed for c in _checks(result).values())
    store = _store(quant_home)
    assert store.days() == [date(2024, 1, d) for d in (2, 3, 4)]
    assert store.read()["symbol"].unique().sort().to_list() == ["A", "B"]
    assert pl.read_parquet(store.root).height == 6  # the directory reads as one table
    partitions = {e.materialization.partition for e in result.get_asset_materialization_events()}
    assert partitions == {"2024-01-02", "2024-01-03", "2024-01-04"}


def _digests(store: BarStore) -> dict[date, str]:
    return {d: hashlib.sha256(store.path(d).read_bytes()).hexdigest() for d in store.days()}


def test_backfill_in_one_run_then_one_day_keeps_old_partitions_identical(quant_home):
    # A quarter here (each partition costs Dagster event writes); two years at the store
    # level in tests/quant_engine/data/test_store.py.
    market = {"n_symbols": 3, "n_days": 64, "seed": 4}
    quarter = MarketDataResource(**{**market, "n_days": 63})
    definitions = defs()
    raw_bars = [a for a in definitions.assets if a.key.to_user_string() == "raw_bars"]
    instance = dg.DagsterInstance.ephemeral()
    backfill = dg.materialize(
        raw_bars,
        resources={**definitions.resources, "market_data": quarter},
        instance=instance,
        tags=backfill_tags(quarter),
    )
    assert backfill.success
    assert len(instance.get_runs()) == 1  # the whole range in one run
    store = _store(quant_home)
    before = _digests(store)
    assert len(before) == 63

    longer = MarketDataResource(**market)
    new_day = longer.available_days()[1]
    daily = dg.materialize(
        raw_bars,
        resources={**definitions.resources, "market_data": longer},
        instance=instance,
        partition_key=new_day.isoformat(),
    )
    assert daily.success
    assert [e.materialization.partition for e in daily.get_asset_materialization_events()] == [
        new_day.isoformat()
    ]
    after = _digests(store)
    assert set(after) - set(before) == {new_day}
    assert {day: after[day] for day in before} == before


def test_daily_schedule_asks_for_just_the_days_partition():
    definitions = defs()
    job = definitions.resolve_job_def("daily_pipeline_job")
    assert job.partitions_def == definitions.resolve_assets_def("raw_bars").partitions_def
    assert definitions.resolve_assets_def("raw_bars").backfill_policy == (
        dg.BackfillPolicy.single_run()
    )
    new_york = ZoneInfo("America/New_York")
    cases = {
        "daily_pipeline_schedule": (datetime(2024, 1, 5, 18, 30, tzinfo=new_york), "2024-01-05"),
        "weekly_retrain_schedule": (datetime(2024, 1, 6, 6, 0, tzinfo=new_york), "2024-01-05"),
    }
    for name, (when, key) in cases.items():
        schedule = definitions.resolve_schedule_def(name)
        context = dg.build_schedule_context(
            scheduled_execution_time=when, repository_def=definitions.get_repository_def()
        )
        requests = schedule.evaluate_tick(context).run_requests
        assert [r.partition_key for r in requests] == [key], name


def _raw_bars_asset() -> list:
    return [a for a in defs().assets if a.key.to_user_string() == "raw_bars"]


def _run(
    data: Path, instance: dg.DagsterInstance, tags: dict[str, str] | None = None, **market: object
) -> dg.ExecuteInProcessResult:
    definitions = defs()
    options = {"tags": tags} if tags else {}
    return dg.materialize(
        _raw_bars_asset(),
        resources={
            **definitions.resources,
            "market_data": MarketDataResource(source="directory", directory=str(data), **market),
        },
        instance=instance,
        raise_on_error=False,
        **options,
    )


def _materialized_partitions(instance: dg.DagsterInstance) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey("raw_bars")))


def test_a_failing_check_leaves_the_store_unchanged_and_the_partition_unmaterialized(
    quant_home, tmp_path
):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "A.csv").write_text(csv_text(*GOOD_ROWS))
    instance = dg.DagsterInstance.ephemeral()
    assert _run(data, instance, GOOD_DAYS).success
    store = _store(quant_home)
    before = _digests(store)
    # Friday brings a tenfold jump (and a re-run of Thursday with it).
    (data / "A.csv").write_text(csv_text(*GOOD_ROWS, "2024-01-05,11.5,120,11,115,900"))
    failed = _run(data, instance, range_tags(date(2024, 1, 4), date(2024, 1, 5)))
    assert not failed.success
    assert _checks(failed)["unexplained_jumps"].passed is False
    assert _materialized(failed) == set()
    assert _digests(store) == before and store.days() == [date(2024, 1, d) for d in (2, 3, 4)]
    assert _materialized_partitions(instance) == {"2024-01-02", "2024-01-03", "2024-01-04"}
    error = next(e for e in failed.all_events if e.is_step_failure).step_failure_data.error
    assert "blocking check(s) failed: unexplained_jumps (1); nothing was written" in str(error)


def test_a_day_without_data_fails_and_writes_no_empty_file(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "A.csv").write_text(csv_text(*GOOD_ROWS))
    instance = dg.DagsterInstance.ephemeral()
    assert _run(data, instance, GOOD_DAYS).success
    before = _digests(_store(quant_home))
    latest = _run(data, instance, range_tags(date(2024, 1, 8), date(2024, 1, 8)))
    assert not latest.success and _checks(latest)["calendar_gaps"].passed is False
    assert _digests(_store(quant_home)) == before  # no empty 2024-01-08.parquet
    assert "2024-01-08" not in _materialized_partitions(instance)


def test_a_symbol_typo_fails_missing_symbols_and_erases_nothing(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    (data / "AAPL.csv").write_text(csv_text(*GOOD_ROWS))
    (data / "MSFT.csv").write_text(csv_text(*GOOD_ROWS))
    instance = dg.DagsterInstance.ephemeral()
    assert _run(data, instance, GOOD_DAYS, symbols=["AAPL", "MSFT"]).success
    store = _store(quant_home)
    before = _digests(store)
    typo = _run(data, instance, GOOD_DAYS, symbols=["AAPL ", "MSFT"])
    assert not typo.success
    check = _checks(typo)["missing_symbols"]
    assert check.passed is False and check.metadata["count"].value == 2
    assert "AAPL " in check.metadata["examples"].value  # requested, not returned
    assert _digests(store) == before
    assert store.read().filter(pl.col("symbol") == "AAPL").height == 3
    # Dropping a symbol's days is an explicit choice.
    dropped = _run(data, instance, GOOD_DAYS, symbols=["MSFT"], missing_symbols="drop")
    assert dropped.success
    assert store.read()["symbol"].unique().to_list() == ["MSFT"]


def test_a_us_date_file_fails_naming_the_format_until_it_is_given(quant_home, tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    rows = [f"01/0{d}/2024{r[10:]}" for d, r in zip((2, 3, 4), GOOD_ROWS, strict=True)]
    (data / "US.csv").write_text(csv_text(*rows))
    instance = dg.DagsterInstance.ephemeral()
    result = _run(data, instance, GOOD_DAYS)
    assert not result.success
    error = str(next(e for e in result.all_events if e.is_step_failure).step_failure_data.error)
    assert "US.csv, row 1, column 'timestamp': value '01/02/2024' is not a timestamp" in error
    assert "tried ISO 8601 date or datetime, YYYYMMDD, epoch" in error
    assert "set timestamp_format, e.g. '%m/%d/%Y'" in error
    assert _files(quant_home / "assets") == []
    given = _run(data, instance, GOOD_DAYS, timestamp_format="%m/%d/%Y")
    assert given.success
    assert _store(quant_home).days() == [date(2024, 1, d) for d in (2, 3, 4)]


# A raw_bars backfill in its own process, killed while it writes its third day file.
_KILLED_BACKFILL = """
import os, sys, time
from datetime import date
import dagster as dg
import polars as pl
from quant_assets.definitions import defs
from quant_assets.defs.market_data.partitions import range_tags
from quant_assets.resources import MarketDataResource

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
definitions = defs()
market = MarketDataResource(source="directory", directory=sys.argv[1], calendar="24/5")
dg.materialize(
    [a for a in definitions.assets if a.key.to_user_string() == "raw_bars"],
    resources={**definitions.resources, "market_data": market},
    instance=dg.DagsterInstance.ephemeral(),
    tags=range_tags(date(2024, 1, 1), date(2024, 1, 31)),
)
"""


def _series(directory: Path, seed: int) -> None:
    """Two symbols over January 2024's weekdays, a little different for each seed."""
    days = [d for d in pl.date_range(date(2024, 1, 1), date(2024, 1, 31), eager=True)]
    weekdays = [d for d in days if d.weekday() < 5]
    for k, symbol in enumerate(("A", "B")):
        closes = [10.0 + k + 0.01 * i + 0.001 * seed for i in range(len(weekdays))]
        pl.DataFrame(
            {
                "timestamp": weekdays,
                "open": closes,
                "high": [c * 1.01 for c in closes],
                "low": [c * 0.99 for c in closes],
                "close": closes,
                "volume": [1e5 + seed] * len(closes),
            }
        ).write_csv(directory / f"{symbol}.csv")


def _subprocess(script: str, *args: str, home: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "QUANT_HOME": str(home)},
        **kwargs,
    )


def test_sigkill_during_a_backfill_leaves_the_old_store_and_the_rerun_gives_clean_bytes(
    quant_home, tmp_path
):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    _series(old, 1)
    _series(new, 2)
    january = range_tags(date(2024, 1, 1), date(2024, 1, 31))
    assert _run(old, dg.DagsterInstance.ephemeral(), january, calendar="24/5").success
    store = _store(quant_home)
    before = _digests(store)
    assert len(before) == 23

    writer = _subprocess(
        _KILLED_BACKFILL, str(new), home=quant_home, stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "mid-write"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    assert _digests(store) == before  # the old store, whole
    assert store.read()["volume"].unique().to_list() == [1e5 + 1]  # no day of the new data

    assert _run(new, dg.DagsterInstance.ephemeral(), january, calendar="24/5").success
    assert not [p for p in quant_home.rglob("*") if p.name.endswith((".tmp", ".building"))]
    clean_home = tmp_path / "clean"
    clean = BarStore(clean_home / "assets" / "raw_bars.parquet")
    definitions = defs()
    dg.materialize(
        _raw_bars_asset(),
        resources={
            **definitions.resources,
            "bar_store_io_manager": BarStoreIOManager(base_dir=str(clean_home / "assets")),
            "market_data": MarketDataResource(
                source="directory", directory=str(new), calendar="24/5"
            ),
        },
        instance=dg.DagsterInstance.ephemeral(),
        tags=january,
    )
    assert _digests(store) == _digests(clean) and len(_digests(clean)) == 23


# Two raw_bars runs of different data into one QUANT_HOME at once, each a few times over.
_WRITER = """
import sys
from datetime import date
import dagster as dg
from quant_assets.definitions import defs
from quant_assets.defs.market_data.partitions import range_tags
from quant_assets.resources import MarketDataResource

definitions = defs()
market = MarketDataResource(source="directory", directory=sys.argv[1], calendar="24/5")
for _ in range(3):
    assert dg.materialize(
        [a for a in definitions.assets if a.key.to_user_string() == "raw_bars"],
        resources={**definitions.resources, "market_data": market},
        instance=dg.DagsterInstance.ephemeral(),
        tags=range_tags(date(2024, 1, 1), date(2024, 1, 31)),
    ).success
"""


def test_two_concurrent_raw_bars_runs_never_interleave(quant_home, tmp_path):
    sources = {}
    for seed in (1, 2):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        _series(folder, seed)
        sources[seed] = folder
    writers = [_subprocess(_WRITER, str(folder), home=quant_home) for folder in sources.values()]
    store = _store(quant_home)
    while any(w.poll() is None for w in writers):
        bars = store.read()
        if bars.height:
            volumes = set(bars["volume"].unique().to_list())
            assert len(volumes) == 1 and bars.height == 2 * 23, "a reader saw two runs mixed"
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    assert set(store.read()["volume"].unique().to_list()) <= {1e5 + 1, 1e5 + 2}
    assert not [p for p in quant_home.rglob("*") if p.name.endswith((".tmp", ".building"))]


def test_every_raw_bars_check_is_blocking_and_described():
    specs = defs().resolve_assets_def("raw_bars").check_specs
    assert {s.name for s in specs} >= {"missing_symbols", "calendar_gaps", "unexplained_jumps"}
    assert all(s.blocking and s.description and len(s.description) > 20 for s in specs)
