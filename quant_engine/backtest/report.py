"""Equity and drawdown chart of one or more backtests, as a PNG."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quant_engine.io.atomic import atomic_path


def plot_equity_and_drawdown(curves: dict[str, pl.DataFrame], path: str | Path) -> Path:
    """Plot ``equity`` and ``drawdown`` of each named daily frame into ``path`` (PNG)."""
    from quant_engine.evaluation.figures import equity_and_drawdown  # matplotlib, when plotting

    with atomic_path(path) as tmp:
        equity_and_drawdown(curves).savefig(tmp, format="png", dpi=100)
    return Path(path)
