"""A backtest extended from its stored state equals one run over the whole history."""

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest import BookConfig, CostModel, MarketPanel, run_panel_backtest
from quant_engine.backtest.resume import (
    BacktestState,
    NotExtendable,
    extend_backtest,
    extend_daily,
)
from quant_engine.evaluation.performance import performance_metrics
from quant_engine.portfolio import ConstructionConfig

COSTS = CostModel(commission_bps=5.0, half_spread_bps=7.0, impact_coef=0.3)
STORED_DAYS = 120  # the stored run's bar dates; the rest arrive later


@pytest.fixture(scope="module")
def history(market):
    """The market with a name listed among the later days, one listed mid-history, one
    delisted before the stored run ends, and gaps (a name without a bar) in the later days."""
    bars = market.bars
    dates = bars["timestamp"].unique().sort()
    symbols = sorted(bars["symbol"].unique().to_list())
    late, mid, gone, gappy = symbols[3], symbols[5], symbols[7], symbols[9]
    gaps = dates[[STORED_DAYS + 2, STORED_DAYS + 3, STORED_DAYS + 9]].implode()
    return bars.filter(
        ~((pl.col("symbol") == late) & (pl.col("timestamp") < dates[STORED_DAYS + 4]))
        & ~((pl.col("symbol") == mid) & (pl.col("timestamp") < dates[60]))
        & ~((pl.col("symbol") == gone) & (pl.col("timestamp") > dates[STORED_DAYS - 10]))
        & ~((pl.col("symbol") == gappy) & pl.col("timestamp").is_in(gaps))
    )


def _backtest(bars: pl.DataFrame, signals: pl.DataFrame, config: BookConfig):
    panel = MarketPanel.from_bars(bars, config.risk_window)
    return run_panel_backtest(panel, panel.align_scores(signals), config)


@pytest.mark.parametrize("mode", ["long_only", "long_short"])
@pytest.mark.parametrize("mark", ["ffill", "exact"])
@pytest.mark.parametrize("volume_cap", [None, 0.02])
def test_extending_day_by_day_equals_the_whole_run(
    history, signals, tmp_path, mode, mark, volume_cap
):
    config = BookConfig(
        costs=COSTS,
        portfolio=ConstructionConfig(mode=mode, top_k=3, max_volume_share=volume_cap),
        mark=mark,
    )
    dates = history["timestamp"].unique().sort()
    cut = dates[STORED_DAYS - 1]
    stored = _backtest(history.filter(pl.col("timestamp") <= cut), signals, config)
    state = BacktestState.after(stored, history.filter(pl.col("timestamp") <= cut), config)
    daily = stored.daily
    weights = [(stored.weights, state.symbols)]
    # one day at a time, then the rest at once (a run that missed a few days)
    stops = [*dates[STORED_DAYS : STORED_DAYS + 6], dates[-1]]
    for stop in stops:
        path = tmp_path / f"{mode}-{mark}.npz"
        state.save(path, {"model_version": "m1"})
        state, built_from = BacktestState.load(path)
        assert built_from == {"model_version": "m1"}
        later = history.filter(
            (pl.col("timestamp") > state.last_date) & (pl.col("timestamp") <= stop)
        )
        result, state = extend_backtest(state, later, signals, config)
        daily = extend_daily(daily, result)
        weights.append((result.weights, state.symbols))
    full = _backtest(history, signals, config)
    assert daily["timestamp"].equals(full.daily["timestamp"])
    # The dollar ADV's rolling mean (a running sum) differs in its last bits with where the
    # bars start: the same numbers to 1e-12, and returns (exact marks: equity ratios) to 1e-15.
    np.testing.assert_allclose(
        daily.drop("timestamp").to_numpy(),
        full.daily.drop("timestamp").to_numpy(),
        rtol=1e-12,
        atol=1e-15,
    )
    metrics = performance_metrics(daily["net_return"].to_numpy(), daily["turnover"].to_numpy())
    assert metrics.keys() == full.metrics.keys()
    np.testing.assert_allclose(list(metrics.values()), list(full.metrics.values()), rtol=1e-12)
    # each run's weights over its names; the late-listed name joined after the stored run
    symbols = sorted(history["symbol"].unique().to_list())
    assert len(weights[0][1]) == len(symbols) - 1 and weights[-1][1] == symbols
    row = 0
    for part, names in weights:
        expected = np.zeros_like(full.weights[row : row + len(part)])
        expected[:, np.searchsorted(symbols, names)] = part
        np.testing.assert_array_equal(expected, full.weights[row : row + len(part)])
        row += len(part)
    assert row == len(full.weights)
    assert state.last_date == dates[-1] and state.decided_at == dates[-2]


def test_no_later_bar_leaves_the_state(history, signals):
    config = BookConfig(costs=COSTS)
    stored = _backtest(history, signals, config)
    state = BacktestState.after(stored, history, config)
    assert extend_backtest(state, history, signals, config) == (None, state)


def test_another_config_or_per_symbol_sleeves_are_not_extended(history, signals):
    config = BookConfig(costs=COSTS)
    state = BacktestState.after(_backtest(history, signals, config), history, config)
    with pytest.raises(NotExtendable, match="config changed"):
        extend_backtest(state, history, signals, BookConfig(costs=CostModel()))
    sleeves = BookConfig(portfolio=ConstructionConfig(allocation="per_symbol"))
    with pytest.raises(NotExtendable, match="per-symbol"):
        BacktestState.after(_backtest(history, signals, sleeves), history, sleeves)
