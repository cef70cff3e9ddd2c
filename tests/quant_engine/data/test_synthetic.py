from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig, generate_market, validate_bars
from quant_engine.data.sources.synthetic import SyntheticSource
from quant_engine.data.synthetic import initial_state, simulate
from quant_engine.features import add_forward_return_label
from tests.conftest import SMALL_MARKET


def test_same_seed_same_bars_bit_for_bit(small_market):
    again = generate_market(small_market.config)
    assert again.bars.equals(small_market.bars)
    assert again.oracle_ic == small_market.oracle_ic
    other = generate_market(SyntheticMarketConfig(n_symbols=24, n_days=700, seed=12))
    assert not other.bars.equals(small_market.bars)


def test_a_longer_market_extends_a_shorter_one(small_market):
    longer = generate_market(SyntheticMarketConfig(**{**SMALL_MARKET, "n_days": 710}))
    cutoff = small_market.bars["timestamp"].max()
    assert longer.bars.filter(pl.col("timestamp") <= cutoff).equals(small_market.bars)


def test_bars_follow_the_schema_and_rules(small_market):
    bars = small_market.bars
    assert validate_bars(bars).equals(bars)
    assert bars.height == 24 * 700
    weekdays = bars["timestamp"].dt.weekday().unique().to_list()
    assert max(weekdays) <= 5  # trading days only


def _daily_returns(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(
        (pl.col("close") / pl.col("close").shift(1) - 1).over("symbol").alias("ret")
    ).drop_nulls("ret")


def test_stylized_facts(small_market):
    rets = _daily_returns(small_market.bars)
    r = rets["ret"].to_numpy()
    kurtosis = np.mean((r - r.mean()) ** 4) / r.var() ** 2
    assert kurtosis > 4  # fat tails (a normal has 3)
    # Volume co-moves with volatility: bigger moves come with more volume (within each name).
    within = rets.with_columns(
        (pl.col("ret").abs().rank() / pl.len()).over("symbol").alias("move"),
        (pl.col("volume").rank() / pl.len()).over("symbol").alias("vol"),
    )
    assert within.select(pl.corr("move", "vol")).item() > 0.1
    # Names share a market factor: the mean pairwise correlation is clearly positive.
    wide = rets.pivot(on="symbol", index="timestamp", values="ret").drop("timestamp").to_numpy()
    corr = np.corrcoef(wide.T)
    assert corr[np.triu_indices_from(corr, 1)].mean() > 0.15
    # Volatility regimes: rolling cross-sectional volatility varies well beyond sampling noise.
    daily_vol = np.nanstd(wide, axis=1)
    monthly = np.array([daily_vol[i : i + 21].mean() for i in range(0, len(daily_vol) - 21, 21)])
    assert monthly.max() / monthly.min() > 1.6


def test_oracle_ic_matches_the_planted_expected_returns(small_market):
    frame = add_forward_return_label(small_market.expected_returns, small_market.bars)
    known = frame.filter(pl.col("expected_return") != 0).drop_nulls("label")
    daily = known.group_by("timestamp").agg(pl.corr("expected_return", "label").alias("ic"))
    assert daily["ic"].mean() == pytest.approx(small_market.oracle_ic, abs=1e-9)
    assert 0.03 < small_market.oracle_ic < 0.2


def test_stronger_signal_gives_higher_oracle_ic():
    weak = generate_market(SyntheticMarketConfig(n_symbols=30, n_days=400, signal_strength=0.02))
    strong = generate_market(SyntheticMarketConfig(n_symbols=30, n_days=400, signal_strength=0.2))
    assert strong.oracle_ic > weak.oracle_ic + 0.05


def test_invalid_config_is_rejected():
    with pytest.raises(ValueError, match="at least 2 symbols"):
        SyntheticMarketConfig(n_symbols=1)


def test_sessions_simulated_in_steps_equal_one_run():
    config = SyntheticMarketConfig(n_symbols=6, n_days=130, seed=5)
    whole, _ = simulate(config, initial_state(config), config.n_days)
    state, parts = initial_state(config), []
    for n_days in (1, 61, 2, 66):  # a step inside the warm-up, across it, one day
        arrays, state = simulate(config, state, n_days)
        parts.append(arrays)
    assert state.day == config.n_days
    for name, values in whole.items():
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), values)


@pytest.mark.parametrize("warmup_days", [60, 20])
def test_a_cached_market_extended_day_by_day_serves_the_same_bars(tmp_path, warmup_days):
    family = {"n_symbols": 5, "seed": 3, "warmup_days": warmup_days}
    for n_days in (70, 71, 72, 150):  # each longer market extends the stored sessions
        config = SyntheticMarketConfig(**family, n_days=n_days)
        market = generate_market(config)
        cached = SyntheticSource(config, cache=tmp_path)
        days = cached.days()
        assert cached.fetch(None, days[0], days[-1] + timedelta(days=1)).equals(
            market.bars.sort("symbol", "timestamp")
        )
        day = days[-2]
        expected = market.bars.filter(
            pl.col("timestamp").dt.date() == day, pl.col("symbol") == "S002"
        )
        assert cached.fetch(["S002"], day, day + timedelta(days=1)).equals(expected)
        assert cached.fetch(None, day, day).height == 0
        assert cached.oracle_ic() == market.oracle_ic  # bit for bit
    (folder,) = tmp_path.iterdir()
    assert sorted(p.name for p in folder.iterdir()) == [
        "00000000-00000070",
        "00000070-00000071",
        "00000071-00000072",
        "00000072-00000150",
    ]
    # A shorter market of the family reads the stored sessions and generates none.
    short = SyntheticMarketConfig(**family, n_days=65)
    cached = SyntheticSource(short, cache=tmp_path)
    assert cached.fetch(None, date(2000, 1, 1), date(2100, 1, 1)).equals(
        generate_market(short).bars.sort("symbol", "timestamp")
    )
    assert cached.oracle_ic() == generate_market(short).oracle_ic
    assert len(list(folder.iterdir())) == 4
