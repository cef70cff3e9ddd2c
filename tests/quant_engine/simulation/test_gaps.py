"""Real data has holes: gaps, late listings, delistings, exact ties. Both simulators stay right."""

from fractions import Fraction

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest import BookConfig, CostModel, MarketPanel, run_panel_backtest
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation import (
    BarPanel,
    Momentum,
    RiskLimits,
    SimulationConfig,
    Simulator,
    SmaCrossover,
    positions_from_signals,
)

COSTS = CostModel(commission_bps=10.0, half_spread_bps=0.0, impact_coef=0.0)
SLEEVES = ConstructionConfig(mode="long_only", allocation="per_symbol")
N = 4


def _gapped_panel(seed: int = 11, n_bars: int = 420) -> BarPanel:
    """A full history, one with gaps, a late listing and a delisting."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_bars, N)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.004, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    holes = np.zeros(close.shape, dtype=bool)
    holes[[90, 91, 92, 200, 301], 1] = True  # gaps
    holes[:130, 2] = True  # listed late
    holes[350:, 3] = True  # delisted
    for a in (open_, close, volume):
        a[holes] = np.nan
    panel = BarPanel.from_arrays(open_, close, volume=volume)
    return BarPanel(
        panel.timestamps,
        panel.symbols,
        panel.open,
        np.where(holes, np.nan, panel.high),
        np.where(holes, np.nan, panel.low),
        panel.close,
        panel.volume,
    )


def _alone(panel: BarPanel, column: int) -> BarPanel:
    """One symbol's own bars (its rows only), as if it were run alone."""
    rows = np.flatnonzero(np.isfinite(panel.close[:, column]))
    pick = (rows, slice(column, column + 1))
    return BarPanel(
        [panel.timestamps[r] for r in rows],
        [panel.symbols[column]],
        *(getattr(panel, k)[pick] for k in ("open", "high", "low", "close", "volume")),
    )


def _config(capital: float, **kw) -> SimulationConfig:
    return SimulationConfig(capital=capital, costs=COSTS, portfolio=SLEEVES, **kw)


def _market(panel: BarPanel) -> MarketPanel:
    blank = np.full(panel.close.shape, np.nan)
    return MarketPanel(panel.timestamps, panel.symbols, panel.open, blank, blank, panel.close)


def test_gapped_and_late_listed_symbols_trade_as_they_would_alone():
    panel = _gapped_panel()
    together = Simulator(_config(4e5), SmaCrossover(5, 20)).run(panel)
    for column, symbol in enumerate(panel.symbols):
        alone = Simulator(_config(1e5), SmaCrossover(5, 20)).run(_alone(panel, column))
        mine = together.trades.filter(pl.col("symbol") == symbol)
        assert alone.trades.height > 6, symbol  # it keeps trading after its gaps
        assert mine["timestamp"].to_list() == alone.trades["timestamp"].to_list(), symbol
        np.testing.assert_allclose(mine["quantity"], alone.trades["quantity"], rtol=1e-12)
        np.testing.assert_allclose(mine["price"], alone.trades["price"], rtol=0)
    after_gap = together.trades.filter((pl.col("symbol") == "S001") & (pl.col("timestamp") > 301))
    assert after_gap.height > 0


def test_multi_symbol_run_equals_the_sum_of_single_symbol_runs_on_gapped_data():
    panel = _gapped_panel()
    full = [0, 1, 2]  # the delisted name ends early, so its own run ends at another open
    cut = BarPanel(
        panel.timestamps,
        [panel.symbols[c] for c in full],
        *(getattr(panel, k)[:, full] for k in ("open", "high", "low", "close", "volume")),
    )
    together = Simulator(_config(3e5), SmaCrossover(5, 20)).run(cut)
    singles = [Simulator(_config(1e5), SmaCrossover(5, 20)).run(_alone(cut, c)) for c in range(3)]
    assert together.final_equity == pytest.approx(sum(s.final_equity for s in singles), rel=1e-12)
    assert together.metrics["n_fills"] == sum(s.metrics["n_fills"] for s in singles)
    # equity at every open: each symbol alone, valued at its last price on its missing bars
    curve = np.zeros(len(cut))
    for single in singles:
        own = dict(zip(single.bars["timestamp"], single.bars["equity_open"], strict=True))
        closes = dict(zip(single.bars["timestamp"], single.bars["equity_close"], strict=True))
        last = 1e5
        for i, ts in enumerate(cut.timestamps):
            curve[i] += own.get(ts, last)
            last = closes.get(ts, last)
    np.testing.assert_allclose(together.bars["equity_open"], curve, rtol=1e-12)


@pytest.mark.parametrize("mark", ["ffill", "exact"])
@pytest.mark.parametrize("max_weight", [1.0, 1 - 1e-15])  # closed form and period loop
def test_the_two_simulators_agree_on_gapped_data_to_1e_9(mark, max_weight):
    panel = _gapped_panel()
    rules = ConstructionConfig(mode="long_only", allocation="per_symbol", max_weight=max_weight)
    event = Simulator(
        SimulationConfig(capital=4e5, costs=COSTS, portfolio=rules, mark=mark), SmaCrossover(5, 20)
    ).run(panel)
    vectorized = run_panel_backtest(
        _market(panel),
        SmaCrossover(5, 20).scores(panel),
        BookConfig(capital=4e5, costs=COSTS, portfolio=rules, mark=mark),
    )
    daily = event.daily()
    np.testing.assert_allclose(daily["equity"], vectorized.daily["equity"], rtol=1e-9)
    assert event.final_equity == pytest.approx(vectorized.final_equity, rel=1e-9)
    # no trade is dated on a bar its name does not have
    rows = {ts: i for i, ts in enumerate(panel.timestamps)}
    names = {s: j for j, s in enumerate(panel.symbols)}
    for frame in (event.trades,):
        for ts, symbol in frame.select("timestamp", "symbol").iter_rows():
            assert np.isfinite(panel.open[rows[ts], names[symbol]])
    dates = vectorized.daily["timestamp"].to_list()
    for p, j in zip(*np.nonzero(vectorized.trades), strict=True):
        assert np.isfinite(panel.open[rows[dates[p]], j])
    assert event.trades.height == np.count_nonzero(vectorized.trades)
    for key in ("total_return", "sharpe", "max_drawdown"):
        assert event.metrics[key] == pytest.approx(vectorized.metrics[key], rel=1e-9)


def test_cross_sectional_books_agree_on_gapped_data_with_impact_costs():
    panel = _gapped_panel(seed=5)
    costs = CostModel(commission_bps=5.0, half_spread_bps=5.0, impact_coef=0.2)
    rules = ConstructionConfig(mode="long_short", top_k=1)
    event = Simulator(
        SimulationConfig(capital=1e6, costs=costs, portfolio=rules), Momentum(10)
    ).run(panel)
    frame = pl.DataFrame(
        {
            "timestamp": np.repeat(panel.timestamps, N),
            "symbol": np.tile(panel.symbols, len(panel)),
            **{k: getattr(panel, k).ravel() for k in ("open", "high", "low", "close", "volume")},
        }
    ).filter(pl.col("close").is_not_nan())
    market = MarketPanel.from_bars(frame, 20)
    vectorized = run_panel_backtest(
        market,
        Momentum(10).scores(panel),
        BookConfig(capital=1e6, costs=costs, portfolio=rules),
    )
    np.testing.assert_allclose(event.daily()["equity"], vectorized.daily["equity"], rtol=1e-9)


def test_an_exact_sma_tie_follows_the_at_or_below_rule():
    # Prices in cents (seed 48 gives a day where SMA10 == SMA30 exactly); running sums
    # differ by rounding noise there and used to enter a day early.
    rng = np.random.default_rng(48)
    cents = 10000 + np.cumsum(rng.integers(-150, 151, 80))
    t = 60
    cents[t] = (cents[t - 29 : t].sum() - 3 * cents[t - 9 : t].sum()) // 2
    cents[t + 1 :] += cents[t] + 300 - cents[t + 1]
    exact = [Fraction(int(c), 100) for c in cents]

    def sma(k: int, i: int) -> Fraction:
        return sum(exact[i - k + 1 : i + 1]) / k

    assert sma(10, t) == sma(30, t) and sma(10, t - 1) < sma(30, t - 1)
    assert sma(10, t + 1) > sma(30, t + 1)
    close = (cents / 100.0)[:, None]
    entries, _ = SmaCrossover(10, 30).crossings(close)
    assert t not in np.flatnonzero(entries[:, 0])  # equal is "at or below": no entry yet
    assert t + 1 in np.flatnonzero(entries[:, 0])
    strategy = SmaCrossover(10, 30)
    panel = BarPanel.from_arrays(close, close)
    strategy.start(panel.symbols)
    states = [s.scores[0] if s else np.nan for s in map(strategy.on_bar, panel.snapshots())]
    assert states[t] == 0.0 and states[t + 1] == 1.0


def test_positions_hold_from_an_entry_to_the_next_exit_and_an_entry_wins_a_tie():
    entries = np.array([[0, 1], [1, 0], [1, 0], [0, 0], [0, 1], [1, 0]], dtype=bool)
    exits = np.array([[0, 0], [0, 1], [0, 0], [1, 0], [1, 1], [0, 0]], dtype=bool)
    np.testing.assert_array_equal(
        positions_from_signals(entries, exits),
        [[0, 1], [1, 0], [1, 0], [0, 0], [0, 1], [1, 1]],
    )


def test_four_long_sleeves_under_max_gross_exposure_one_are_fully_invested():
    close = np.linspace(100, 200, 60)[:, None] * np.ones(4)  # every sleeve long after warm-up
    panel = BarPanel.from_arrays(close, close)
    config = SimulationConfig(
        capital=1e6,
        costs=CostModel(0.0, 0.0, 0.0),
        portfolio=SLEEVES,
        limits=RiskLimits(max_gross_exposure=1.0),
    )
    result = Simulator(config, Momentum(3)).run(panel)
    gross = (result.bars["gross_exposure"] / result.bars["equity_close"]).to_numpy()
    assert gross[-1] == pytest.approx(1.0, rel=1e-12)
    half = Simulator(
        SimulationConfig(
            capital=1e6,
            costs=CostModel(0.0, 0.0, 0.0),
            portfolio=SLEEVES,
            limits=RiskLimits(max_gross_exposure=0.5),
        ),
        Momentum(3),
    ).run(panel)
    entered = half.bars.filter(pl.col("n_positions") == 4).row(0, named=True)
    assert entered["gross_exposure"] / entered["equity_close"] == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("fill_at", ["next_open", "same_close"])
def test_capital_times_one_plus_total_return_is_final_equity(fill_at):
    panel = _gapped_panel()
    result = Simulator(_config(4e5, fill_at=fill_at), SmaCrossover(5, 20)).run(panel)
    metrics = result.metrics
    assert 4e5 * (1 + metrics["total_return"]) == pytest.approx(metrics["final_equity"], rel=1e-12)
    assert metrics["final_equity"] == pytest.approx(result.final_equity, rel=1e-12)
    vectorized = run_panel_backtest(
        _market(panel),
        SmaCrossover(5, 20).scores(panel),
        BookConfig(capital=4e5, costs=COSTS, portfolio=SLEEVES),
    )
    total = vectorized.metrics["total_return"]
    assert 4e5 * (1 + total) == pytest.approx(vectorized.final_equity, rel=1e-12)


@pytest.mark.parametrize("strategy", [SmaCrossover(5, 20), SmaCrossover(10, 50), Momentum(7)])
def test_the_panel_scores_equal_the_per_bar_scores_bit_for_bit_on_gapped_data(strategy):
    panel = _gapped_panel(seed=3, n_bars=700)
    strategy.start(panel.symbols)
    blank = np.full(N, np.nan)
    per_bar = np.array(
        [s.scores if s is not None else blank for s in map(strategy.on_bar, panel.snapshots())]
    )
    np.testing.assert_array_equal(strategy.scores(panel), per_bar)
