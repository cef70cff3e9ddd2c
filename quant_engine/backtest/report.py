"""Equity and drawdown chart of one or more backtests, as a PNG."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from matplotlib.figure import Figure

from quant_engine.io.atomic import atomic_path


def plot_equity_and_drawdown(curves: dict[str, pl.DataFrame], path: str | Path) -> Path:
    """Plot ``equity`` and ``drawdown`` of each named daily frame into ``path`` (PNG)."""
    fig = Figure(figsize=(10, 6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for name, daily in curves.items():
        dates = daily["timestamp"].to_list()
        top.plot(dates, daily["equity"].to_numpy() / daily["equity"][0], label=name)
        bottom.fill_between(dates, daily["drawdown"].to_numpy(), 0, alpha=0.4, label=name)
    top.set_yscale("log")
    top.set_ylabel("equity (start = 1, log scale)")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
