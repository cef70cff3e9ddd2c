"""The event-driven simulator and the vectorized backtester agree fill for fill."""

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest import (
    BookConfig,
    CostModel,
    MarketPanel,
    run_backtest,
    run_panel_backtest,
)
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation import (
    BarPanel,
    SimulationConfig,
    Simulator,
    SmaCrossover,
    simulate_signals,
)

COSTS = CostModel(commission_bps=5.0, half_spread_bps=7.0, impact_coef=0.3)


def _dense_fills(trades: pl.DataFrame, dates: list, symbols: list[str]) -> np.ndarray:
    wide = (
        trades.group_by("timestamp", "symbol")
        .agg(pl.col("notional").sum())
        .pivot(on="symbol", index="timestamp", values="notional")
    )
    frame = pl.DataFrame({"timestamp": dates}).join(wide, on="timestamp", how="left")
    for s in symbols:
        if s not in frame.columns:
            frame = frame.with_columns(pl.lit(0.0).alias(s))
    return frame.select(symbols).fill_null(0.0).to_numpy()


@pytest.mark.parametrize("mode", ["long_only", "long_short"])
@pytest.mark.parametrize("top_k", [1, 3])
def test_same_fills_and_final_equity_to_1e_9(market, signals, mode, top_k):
    rules = ConstructionConfig(mode=mode, top_k=top_k)
    cfg = SimulationConfig(capital=1e8, costs=COSTS, portfolio=rules)  # one config for both
    vectorized = run_backtest(signals, market.bars, cfg)
    event = simulate_signals(signals, market.bars, cfg)
    dates = vectorized.daily["timestamp"].to_list()
    symbols = sorted(market.bars["symbol"].unique())
    np.testing.assert_allclose(
        _dense_fills(event.trades, dates, symbols), vectorized.trades, rtol=1e-9, atol=1e-6
    )
    assert event.bars["equity_open"][-1] == pytest.approx(vectorized.final_equity, rel=1e-9)
    daily = event.daily()
    np.testing.assert_allclose(daily["equity"], vectorized.daily["equity"], rtol=1e-9)
    np.testing.assert_allclose(
        daily["turnover"], vectorized.daily["turnover"], rtol=1e-9, atol=1e-12
    )
    for key in ("sharpe", "max_drawdown", "total_return", "avg_daily_turnover"):
        assert event.metrics[key] == pytest.approx(vectorized.metrics[key], rel=1e-9)


def test_per_symbol_crossover_sleeves_agree_across_all_three_paths():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (400, 6)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.004, close.shape))
    panel = BarPanel.from_arrays(open_, close)
    costs = CostModel(commission_bps=10.0, half_spread_bps=0.0, impact_coef=0.0)
    rules = ConstructionConfig(mode="long_only", allocation="per_symbol")
    strategy = SmaCrossover(5, 20)
    blank = np.full(close.shape, np.nan)
    market = MarketPanel(panel.timestamps, panel.symbols, open_, blank, blank)
    cfg = BookConfig(capital=6e5, costs=costs, portfolio=rules)
    closed_form = run_panel_backtest(market, strategy.scores(panel), cfg)
    # max_weight just under 1 sends the same rule through the period-by-period loop
    looped = run_panel_backtest(
        market,
        strategy.scores(panel),
        BookConfig(
            capital=6e5,
            costs=costs,
            portfolio=ConstructionConfig(
                mode="long_only", allocation="per_symbol", max_weight=1 - 1e-15
            ),
        ),
    )
    event = Simulator(
        SimulationConfig(capital=6e5, costs=costs, portfolio=rules), SmaCrossover(5, 20)
    ).run(panel)
    assert event.trades.height > 20  # the crossovers traded
    np.testing.assert_allclose(looped.symbol_equity, closed_form.symbol_equity, rtol=1e-9)
    assert event.bars["equity_open"][-1] == pytest.approx(closed_form.final_equity, rel=1e-9)
    fills = _dense_fills(event.trades, closed_form.daily["timestamp"].to_list(), panel.symbols)
    np.testing.assert_allclose(fills, closed_form.trades, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize(
    "rules",
    [
        ConstructionConfig(mode="long_only", top_k=3, cash_buffer=0.1),
        ConstructionConfig(mode="long_short", top_k=3, lot_size=25.0, cash_buffer=0.02),
        ConstructionConfig(mode="long_only", allocation="per_symbol", lot_size=10.0),
    ],
    ids=["cash_buffer", "lots_long_short", "lots_sleeves"],
)
def test_both_simulators_plan_with_the_cash_buffer_and_lots(market, signals, rules):
    """The one planner's cash buffer and lots, in the vectorized backtest as in the simulator
    (the vectorized backtest ignored both)."""
    cfg = SimulationConfig(capital=1e6, costs=COSTS, portfolio=rules)
    vectorized = run_backtest(signals, market.bars, cfg)
    event = simulate_signals(signals, market.bars, cfg)
    dates = vectorized.daily["timestamp"].to_list()
    symbols = sorted(market.bars["symbol"].unique())
    fills = _dense_fills(event.trades, dates, symbols)
    np.testing.assert_allclose(fills, vectorized.trades, rtol=1e-9, atol=1e-6)
    assert event.final_equity == pytest.approx(vectorized.final_equity, rel=1e-9)
    shares = event.trades["quantity"].to_numpy()
    if rules.lot_size:
        positions = event.trades["position"].to_numpy()
        assert np.allclose(positions / rules.lot_size, np.round(positions / rules.lot_size))
        with np.errstate(invalid="ignore", divide="ignore"):
            traded = np.nan_to_num(vectorized.trades / vectorized.prices)
        assert np.allclose(traded / rules.lot_size, np.round(traded / rules.lot_size))
    assert shares.size > 10
    if rules.cash_buffer and rules.mode == "long_only":
        invested = event.bars["gross_exposure"] / event.bars["equity_close"]
        assert invested.max() < 1.0 - rules.cash_buffer + 0.03  # drift between rebalances
        assert invested.max() > 1.0 - rules.cash_buffer - 0.03
