"""Entry filters: accept/reject with reasons, composites, and no lookahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.strategy import (
    AllOf,
    AnyOf,
    CorrelationFilter,
    DrawdownFilter,
    EntryCandidate,
    EntryFilter,
    GridSpacingFilter,
    Holding,
    PriceDistanceFilter,
    RegimeFilter,
    SignalAccuracyFilter,
    StrategyContext,
    TimeOfDayFilter,
    VolatilityFilter,
)
from tests.quant_engine.strategy.frames import at, bars_from_closes

LONG_A, SHORT_A = EntryCandidate("A", 1), EntryCandidate("A", -1)


def ctx_at(bars: pl.DataFrame, step: int, **kwargs) -> StrategyContext:
    return StrategyContext(timestamp=at(step), bars=bars, **kwargs)


def test_regime_filter_follows_the_trend_and_needs_history():
    bars = bars_from_closes({"A": np.arange(100.0, 160.0)})
    regime = RegimeFilter(lookback=50)
    assert regime.check(ctx_at(bars, 59), LONG_A)
    refused = regime.check(ctx_at(bars, 59), SHORT_A)
    assert not refused
    assert refused.reason == "regime 'up' of A allows no short entry (allowed: down)"
    early = regime.check(ctx_at(bars, 10), LONG_A)
    assert not early and "unknown" in early.reason


def test_regime_filter_reads_an_upstream_label_column():
    labels = ["range"] * 5 + ["down"] * 5
    bars = bars_from_closes({"A": [100.0] * 10}, regime={"A": labels})
    regime = RegimeFilter(regime_column="regime", short_regimes=("down",))
    assert regime.check(ctx_at(bars, 9), SHORT_A)
    assert regime.check(ctx_at(bars, 4), SHORT_A).reason.startswith("regime 'range' of A")


def test_volatility_filter_bounds_realized_volatility():
    calm = bars_from_closes({"A": 100.0 * 1.001 ** np.arange(30)})
    wild = bars_from_closes({"A": 100.0 * np.tile([1.0, 1.1], 15)})
    band = VolatilityFilter(lookback=20, min_volatility=0.001, max_volatility=0.05)
    assert band.check(ctx_at(calm, 29), LONG_A).reason == "volatility of A 0.00% below min 0.10%"
    assert "above max 5.00%" in band.check(ctx_at(wild, 29), LONG_A).reason
    assert VolatilityFilter(lookback=20).check(ctx_at(wild, 29), LONG_A)
    assert band.check(ctx_at(wild, 5), LONG_A).reason == "need 21 bars of A, have 6"


def test_drawdown_filter_pauses_and_resumes_with_hysteresis():
    bars = bars_from_closes({"A": [1.0] * 5})
    curve = pl.DataFrame(
        {"timestamp": [at(i) for i in range(5)], "equity": [100, 110, 95, 100, 106]}
    )
    sticky = DrawdownFilter(max_drawdown=0.10, resume_drawdown=0.05)
    decisions = [bool(sticky.check(ctx_at(bars, i, equity_curve=curve), LONG_A)) for i in range(5)]
    assert decisions == [True, True, False, False, True]  # 13.6% pauses; 9.1% is not recovery
    plain = DrawdownFilter(max_drawdown=0.10)
    assert [bool(plain.check(ctx_at(bars, i, equity_curve=curve), LONG_A)) for i in range(5)] == [
        True,
        True,
        False,
        True,
        True,
    ]
    reason = sticky.check(ctx_at(bars, 3, equity_curve=curve), LONG_A).reason
    assert reason == "drawdown 9.09% (limit 10.00%): entries paused until it is back to 5.00%"
    with pytest.raises(ValueError, match="equity curve"):
        plain.check(ctx_at(bars, 3), LONG_A)


def _walk(seed: int, n: int = 80) -> np.ndarray:
    return 100.0 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, n)))


def test_correlation_filter_rejects_stacked_risk_but_allows_hedges():
    a = _walk(1)
    bars = bars_from_closes({"A": a, "B": 2 * a, "C": _walk(2)})
    corr = CorrelationFilter(lookback=60, max_correlation=0.7)
    long_b = {"B": Holding(quantity=10, average_price=200.0)}
    refused = corr.check(ctx_at(bars, 79, holdings=long_b), LONG_A)
    assert refused.reason == "long A correlates above 0.70 with held B (+1.00)"
    assert corr.check(ctx_at(bars, 79, holdings=long_b), SHORT_A)  # a hedge
    assert corr.check(ctx_at(bars, 79, holdings={"C": Holding(5, 100.0)}), LONG_A)
    assert corr.check(ctx_at(bars, 79), LONG_A)
    two = CorrelationFilter(max_correlated=2)
    assert two.check(ctx_at(bars, 79, holdings=long_b), LONG_A)


def test_time_of_day_filter_uses_the_configured_time_zone():
    bars = bars_from_closes({"A": [1.0]})
    open_ny = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)  # 09:30 in New York
    ctx = StrategyContext(timestamp=open_ny, bars=bars)
    session = TimeOfDayFilter(allowed_hours=tuple(range(10, 16)), timezone="America/New_York")
    assert session.check(ctx, LONG_A).reason == (
        "hour 09 (America/New_York) is outside the allowed hours"
    )
    assert not TimeOfDayFilter(blocked_hours=(14,)).check(ctx, LONG_A)
    later = StrategyContext(timestamp=open_ny + timedelta(hours=1), bars=bars)
    assert session.check(later, LONG_A)
    with pytest.raises(ValueError, match=r"0\.\.23"):
        TimeOfDayFilter(allowed_hours=(24,))


def test_price_distance_filter_refuses_to_chase():
    bars = bars_from_closes({"A": [100.0] * 19 + [110.0]})
    chase = PriceDistanceFilter(lookback=20, max_distance=0.05)
    assert chase.check(ctx_at(bars, 19), LONG_A).reason == (
        "long A is 9.45% past its 20-bar average; max 5.00%"
    )
    assert chase.check(ctx_at(bars, 19), SHORT_A)  # a short is 9.45% *below* the move
    assert not PriceDistanceFilter(lookback=20, min_distance=0.0).check(ctx_at(bars, 19), SHORT_A)
    assert chase.check(ctx_at(bars, 18), LONG_A).reason == "need 20 bars of A, have 19"
    assert PriceDistanceFilter(lookback=10, max_distance=0.05).check(ctx_at(bars, 18), LONG_A)


def test_grid_spacing_filter_needs_the_price_to_move_our_way():
    bars = bars_from_closes({"A": [100.0, 99.0, 97.0]})
    held = {"A": Holding(quantity=1.0, average_price=101.0, entries=2, last_entry_price=100.0)}
    grid = GridSpacingFilter(min_spacing=0.02)
    refused = grid.check(ctx_at(bars, 1, holdings=held), LONG_A)
    assert refused.reason == (
        "A at 99.0000 is 1.00% better than the last entry 100.0000; a new long entry needs 2.00%"
    )
    assert grid.check(ctx_at(bars, 2, holdings=held), LONG_A)
    assert grid.check(ctx_at(bars, 1, holdings=held), SHORT_A)
    assert grid.check(ctx_at(bars, 1), LONG_A)


def test_signal_accuracy_filter_counts_resolved_calls_only():
    closes = np.arange(100.0, 130.0)  # always up
    right = bars_from_closes({"A": closes}, signal={"A": [1.0] * 30})
    wrong = bars_from_closes({"A": closes}, signal={"A": [-1.0] * 30})
    accuracy = SignalAccuracyFilter(window=10, min_accuracy=0.5, min_samples=5)
    assert accuracy.hit_rate(ctx_at(right, 29), "A") == (1.0, 10)
    assert accuracy.hit_rate(ctx_at(right, 3), "A") == (1.0, 3)  # bar 3's own call is open
    assert accuracy.check(ctx_at(right, 29), LONG_A)
    assert accuracy.check(ctx_at(wrong, 29), LONG_A).reason == (
        "hit rate 0.00% of the last 10 A signals is below 50.00%"
    )
    assert accuracy.check(ctx_at(wrong, 4), LONG_A)  # 4 outcomes: still warming up


def test_composites_combine_and_explain():
    bars = bars_from_closes({"A": np.arange(100.0, 160.0)})
    ctx = ctx_at(bars, 59)
    trend, chase = RegimeFilter(lookback=50), PriceDistanceFilter(lookback=50, max_distance=0.2)
    still = VolatilityFilter(lookback=20, max_volatility=0.0)
    assert AllOf((trend, chase)).check(ctx, LONG_A)
    assert AllOf((trend, still)).check(ctx, SHORT_A).reason == (
        "RegimeFilter: regime 'up' of A allows no short entry (allowed: down); "
        "VolatilityFilter: volatility of A 0.03% above max 0.00%"
    )
    assert AnyOf((trend, still)).check(ctx, LONG_A)
    refused = AnyOf((trend, still)).check(ctx, SHORT_A)
    assert refused.reason.startswith("no filter accepted: RegimeFilter:")
    assert "VolatilityFilter: volatility of A" in refused.reason


FILTERS: list[EntryFilter] = [
    RegimeFilter(lookback=10),
    VolatilityFilter(lookback=10, max_volatility=0.02),
    DrawdownFilter(max_drawdown=0.05, resume_drawdown=0.02),
    CorrelationFilter(lookback=10, max_correlation=0.5),
    PriceDistanceFilter(lookback=10, max_distance=0.01),
    GridSpacingFilter(min_spacing=0.01),
    SignalAccuracyFilter(window=10, min_samples=3, min_accuracy=0.6),
    AllOf((RegimeFilter(lookback=5), VolatilityFilter(lookback=5, max_volatility=0.03))),
]


def _history(seed: int, n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    closes = {s: 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n))) for s in ("A", "B")}
    signal = {s: np.sign(rng.normal(size=n)) for s in ("A", "B")}
    equity = pl.DataFrame(
        {
            "timestamp": [at(i) for i in range(n)],
            "equity": 1e4 * np.exp(np.cumsum(rng.normal(0, 0.02, n))),
        }
    )
    return bars_from_closes(closes, signal=signal), equity


def _decisions(bars: pl.DataFrame, equity: pl.DataFrame, step: int) -> list[tuple[bool, str]]:
    holdings = {"B": Holding(quantity=1.0, average_price=100.0), "A": Holding(1.0, 100.0)}
    ctx = ctx_at(bars, step, holdings=holdings, equity_curve=equity)
    return [
        (d.accepted, d.reason)
        for f in FILTERS
        for candidate in (LONG_A, SHORT_A)
        for d in [f.check(ctx, candidate)]
    ]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    step=st.integers(0, 29),
    future_seed=st.integers(0, 10_000),
    future_bars=st.integers(1, 20),
)
def test_appending_future_data_never_changes_a_past_decision(seed, step, future_seed, future_bars):
    bars, equity = _history(seed, 30)
    future, future_equity = _history(future_seed, 30 + future_bars)
    later = lambda frame: frame.filter(pl.col("timestamp") > at(29))  # noqa: E731
    extended = pl.concat([bars, later(future).select(bars.columns)])
    extended_equity = pl.concat([equity, later(future_equity)])
    known = bars.filter(pl.col("timestamp") <= at(step))
    assert _decisions(known, equity, step) == _decisions(extended, extended_equity, step)


def test_the_no_lookahead_property_is_not_vacuous():
    bars, equity = _history(5, 30)
    outcomes = [accepted for step in range(30) for accepted, _ in _decisions(bars, equity, step)]
    assert any(outcomes) and not all(outcomes)


def test_context_drops_rows_after_its_timestamp():
    bars, equity = _history(1, 30)
    ctx = ctx_at(bars, 12, equity_curve=equity)
    assert ctx.bars["timestamp"].max() == at(12) and ctx.history("A").height == 13
    assert ctx.equity_curve["timestamp"].max() == at(12)
    assert ctx.price("A") == bars.filter(pl.col("symbol") == "A")["close"][12]
