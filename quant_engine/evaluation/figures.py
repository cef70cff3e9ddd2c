"""Figures of signal quality, as matplotlib Figures (no global pyplot state)."""

from __future__ import annotations

import polars as pl
from matplotlib.figure import Figure


def ic_over_time(daily: pl.DataFrame) -> Figure:
    """Cumulative daily IC and rank IC: steady slopes mean steady skill."""
    fig = Figure(figsize=(9, 3.5))
    ax = fig.subplots()
    for column in ("ic", "rank_ic"):
        ax.plot(daily["timestamp"].to_list(), daily[column].fill_null(0).cum_sum(), label=column)
    ax.set(title="Cumulative out-of-sample IC", ylabel="sum of daily IC")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def ic_decay_bars(decay: pl.DataFrame) -> Figure:
    """IC against holding horizon (days)."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.bar([str(h) for h in decay["horizon"]], decay["ic"].to_list())
    ax.set(title="IC decay", xlabel="horizon (days)", ylabel="IC")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def quantile_bars(summary: pl.DataFrame) -> Figure:
    """Mean next-period return per score quantile, and the top-minus-bottom spread."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.bar(summary["quantile"].to_list(), (summary["mean_return"] * 1e4).to_list())
    ax.set(title="Return by score quantile", xlabel="quantile", ylabel="mean return (bps)")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def equity_and_drawdown(curves: dict[str, pl.DataFrame]) -> Figure:
    """Equity (log scale, start = 1) and drawdown of daily frames with those two columns."""
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
    return fig


def importance_bars(importance: pl.DataFrame, top: int = 20) -> Figure:
    """The ``top`` features by importance, largest at the top."""
    head = importance.head(top).reverse()
    fig = Figure(figsize=(7, 0.25 * head.height + 1.2))
    ax = fig.subplots()
    ax.barh(head["feature"].to_list(), head["importance"].to_list())
    kind = importance["kind"][0] if importance.height else ""
    label = "share of split gain" if kind == "gain" else "drop in rank IC when shuffled"
    ax.set(title=f"Feature importance ({kind})", xlabel=label)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
