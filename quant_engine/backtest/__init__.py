"""Vectorized daily backtest of signal-driven portfolios, with costs and a chart."""

from quant_engine.backtest.config import BookConfig
from quant_engine.backtest.costs import CostModel
from quant_engine.backtest.report import plot_equity_and_drawdown
from quant_engine.backtest.vectorized import (
    BacktestResult,
    MarketPanel,
    run_backtest,
    run_panel_backtest,
    target_weights,
)

__all__ = [
    "BacktestResult",
    "BookConfig",
    "CostModel",
    "MarketPanel",
    "plot_equity_and_drawdown",
    "run_backtest",
    "run_panel_backtest",
    "target_weights",
]
