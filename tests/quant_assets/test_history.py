"""Seeding the bar store outside Dagster: where the market starts, and the jump threshold."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from quant_assets.defs.market_data.history import raw_bars_store, seed_history
from quant_assets.resources import MarketDataResource


def test_a_synthetic_market_starting_earlier_is_seeded_from_its_first_session(
    tmp_path: Path,
) -> None:
    market = MarketDataResource(n_symbols=3, n_days=80, start="2005-01-03")
    last = seed_history(market, str(tmp_path))
    days = raw_bars_store(str(tmp_path)).days()
    assert days[0] == date(2005, 1, 3)
    assert len(days) == 79  # every session but the last, which raw_bars' partition ingests
    assert last == market.available_days()[1] > days[-1]
    assert last.year == 2005  # 80 weekdays from January 3rd, not from the 2016 default


def _write_symbol(directory: Path, symbol: str, closes: list[float]) -> None:
    days = pl.date_range(date(2024, 1, 1), date(2024, 1, 31), "1d", eager=True)
    weekdays = days.filter(days.dt.weekday() <= 5)[: len(closes)]
    pl.DataFrame(
        {
            "timestamp": weekdays.cast(pl.Datetime("us")),
            "open": closes,
            "high": [c * 1.01 for c in closes],
            "low": [c * 0.99 for c in closes],
            "close": closes,
            "volume": [1e5] * len(closes),
        }
    ).write_csv(directory / f"{symbol}.csv")


def test_the_jump_threshold_of_the_seed_can_be_raised_like_raw_bars_config(
    tmp_path: Path,
) -> None:
    bars = tmp_path / "bars"
    bars.mkdir()
    closes = [10.0 + 0.01 * i for i in range(12)]
    closes[6] = closes[5] * 1.7  # a +70% day with no corporate action on file
    closes[7:] = [closes[6] + 0.01 * i for i in range(len(closes) - 7)]
    _write_symbol(bars, "AAA", closes)
    _write_symbol(bars, "BBB", [20.0 + 0.02 * i for i in range(12)])
    market = MarketDataResource(source="directory", directory=str(bars), calendar="24/5")

    with pytest.raises(ValueError, match="unexplained_jumps': 1"):
        seed_history(market, str(tmp_path / "strict"))  # the default threshold, 0.5

    last = seed_history(market, str(tmp_path / "lenient"), max_abs_return=1.0)
    assert len(raw_bars_store(str(tmp_path / "lenient")).days()) == 11
    assert last == date(2024, 1, 16)


def test_the_seeded_history_is_recorded_as_materialized_partitions(tmp_path: Path) -> None:
    import dagster as dg

    from quant_assets.defs.market_data.history import record_history

    market = MarketDataResource(n_symbols=3, n_days=80)
    seed_history(market, str(tmp_path))
    days = raw_bars_store(str(tmp_path)).days()
    with dg.DagsterInstance.ephemeral() as instance:
        assert record_history(instance, str(tmp_path)) == len(days) == 79
        partitions = instance.get_materialized_partitions(dg.AssetKey("raw_bars"))
        assert partitions == {d.isoformat() for d in days}
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_bars"))
        assert event.asset_materialization.metadata["dagster/row_count"].value == 3
        assert record_history(instance, str(tmp_path)) == 0  # recorded once only


def test_the_synthetic_markets_partitions_end_at_its_last_day() -> None:
    import os
    import subprocess
    import sys

    from quant_assets.defs.market_data.partitions import last_partition_day

    assert last_partition_day("synthetic", "2016-01-04") == MarketDataResource().available_days()[1]
    assert last_partition_day("today") is None
    assert last_partition_day("2024-03-01") == date(2024, 3, 1)
    with pytest.raises(ValueError, match="QUANT_LAST_BAR_DAY='soon'"):
        last_partition_day("soon")
    # The code location as the demo loads it (no QUANT_LAST_BAR_DAY): no day after the data.
    env = {k: v for k, v in os.environ.items() if k != "QUANT_LAST_BAR_DAY"}
    keys = subprocess.run(
        [
            sys.executable,
            "-c",
            "from quant_assets.defs.market_data.partitions import trading_day_partitions as p;"
            "k = p.get_partition_keys(); print(len(k), k[0], k[-1])",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert keys == ["2016", "2016-01-04", "2023-09-25"]
