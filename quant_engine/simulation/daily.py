"""Daily model signals through the event-driven simulator, configured like the vectorized test."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quant_engine.simulation.engine import SimulationConfig, SimulationResult, Simulator
from quant_engine.simulation.events import BarPanel
from quant_engine.simulation.strategies import ScoreTable


def simulate_signals(
    signals: pl.DataFrame,
    bars: pl.DataFrame,
    config: SimulationConfig | None = None,
    artifacts_root: str | Path | None = None,
    name: str = "signals",
) -> SimulationResult:
    """Simulate ``signals`` (timestamp, symbol, score) bar by bar under ``config``.

    The same config given to :func:`quant_engine.backtest.run_backtest` (a simulation config is
    a :class:`~quant_engine.backtest.BookConfig`) runs the same portfolio rules, costs and
    timeline (decide at the close, fill at the next open), so the two agree on the same inputs.
    """
    return Simulator(
        config or SimulationConfig(), ScoreTable(signals), artifacts_root=artifacts_root, name=name
    ).run(BarPanel.from_bars(bars))
