"""Daily model signals through the event-driven simulator, configured like the vectorized test."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quant_engine.backtest.vectorized import BacktestConfig
from quant_engine.simulation.engine import SimulationConfig, SimulationResult, Simulator
from quant_engine.simulation.events import BarPanel
from quant_engine.simulation.strategies import ScoreTable


def simulate_signals(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    config: BacktestConfig | None = None,
    artifacts_root: str | Path | None = None,
    name: str = "signals",
) -> SimulationResult:
    """Simulate ``signals`` (timestamp, symbol, score) bar by bar under a backtest ``config``.

    Same portfolio rules, costs and timeline as :func:`quant_engine.backtest.run_backtest`
    (decide at the close, fill at the next open), so the two agree on the same inputs.
    """
    cfg = config or BacktestConfig()
    sim = SimulationConfig(
        capital=cfg.capital, costs=cfg.costs, portfolio=cfg.portfolio, risk_window=cfg.risk_window
    )
    return Simulator(sim, ScoreTable(signals), artifacts_root=artifacts_root, name=name).run(
        BarPanel.from_bars(bars)
    )
