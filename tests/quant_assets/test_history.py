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
