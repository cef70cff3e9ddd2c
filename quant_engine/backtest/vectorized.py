"""Vectorized backtest of a daily-rebalanced portfolio built from scores.

Timeline: scores of day ``t`` are known after its close; the portfolio trades to its targets at
the open of ``t+1`` and holds until the open of ``t+2``. Costs use the 20-day volatility and
dollar ADV known at the close of ``t``. Weights drift with prices between rebalances, so
turnover is measured against the drifted book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from quant_engine.backtest.costs import CostModel
from quant_engine.evaluation.performance import drawdown, performance_metrics


@dataclass(frozen=True)
class BacktestConfig:
    """Portfolio rule and costs."""

    mode: Literal["long_only", "long_short"] = "long_short"
    top_k: int = 10
    capital: float = 10_000_000.0
    costs: CostModel = field(default_factory=CostModel)
    risk_window: int = 20  # days of history for the volatility and ADV used by impact

    def __post_init__(self) -> None:
        if self.mode not in ("long_only", "long_short"):
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.top_k < 1 or self.capital <= 0 or self.risk_window < 2:
            raise ValueError("top_k, capital and risk_window must be positive (window >= 2)")


@dataclass(frozen=True)
class MarketPanel:
    """Wide (dates x symbols) arrays aligned for the backtest."""

    dates: list
    symbols: list[str]
    open: np.ndarray
    sigma: np.ndarray  # daily log-return volatility known at the close
    adv: np.ndarray  # average daily dollar volume known at the close

    @classmethod
    def from_bars(cls, bars: pl.DataFrame, risk_window: int = 20) -> MarketPanel:
        risk = bars.sort("symbol", "timestamp").with_columns(
            pl.col("close").log().diff().rolling_std(risk_window).over("symbol").alias("sigma"),
            (pl.col("close") * pl.col("volume"))
            .rolling_mean(risk_window)
            .over("symbol")
            .alias("adv"),
        )
        symbols = sorted(risk["symbol"].unique().to_list())

        def wide(column: str) -> pl.DataFrame:
            return (
                risk.pivot(on="symbol", index="timestamp", values=column)
                .sort("timestamp")
                .select("timestamp", *symbols)
            )

        opens = wide("open")
        return cls(
            dates=opens["timestamp"].to_list(),
            symbols=symbols,
            open=opens.select(symbols).to_numpy().astype(float),
            sigma=wide("sigma").select(symbols).to_numpy().astype(float),
            adv=wide("adv").select(symbols).to_numpy().astype(float),
        )

    def align_scores(self, signals: pl.DataFrame) -> np.ndarray:
        """Scores as a (dates x symbols) array, NaN where a symbol has no score that day."""
        frame = pl.DataFrame({"timestamp": self.dates}).join(
            signals.pivot(on="symbol", index="timestamp", values="score"),
            on="timestamp",
            how="left",
            maintain_order="left",
        )
        for symbol in self.symbols:
            if symbol not in frame.columns:
                frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(symbol))
        return frame.select(self.symbols).to_numpy().astype(float)


def target_weights(scores: np.ndarray, eligible: np.ndarray, config: BacktestConfig) -> np.ndarray:
    """Equal-weight top-k longs (and bottom-k shorts) per row among eligible names.

    Long-only books are fully invested; long/short books are dollar-neutral with gross 1.
    Ties are broken by column order, so the result is deterministic.
    """
    weights = np.zeros_like(scores)
    masked = np.where(eligible, scores, np.nan)
    n_eligible = eligible.sum(axis=1)
    order = np.argsort(-np.nan_to_num(masked, nan=-np.inf), axis=1, kind="stable")
    for row in np.flatnonzero(n_eligible):
        n = int(n_eligible[row])
        if config.mode == "long_only":
            k = min(config.top_k, n)
            weights[row, order[row, :k]] = 1.0 / k
        else:
            k = min(config.top_k, n // 2)
            if k:
                ranked = order[row, :n]
                weights[row, ranked[:k]] = 0.5 / k
                weights[row, ranked[n - k :]] = -0.5 / k
    return weights


@dataclass(frozen=True)
class BacktestResult:
    daily: pl.DataFrame  # timestamp (trade date), gross/net return, cost, turnover, equity, dd
    weights: np.ndarray  # target weights per trade date (rows of ``daily``)
    metrics: dict[str, float]
    final_equity: float


def run_backtest(
    signals: pl.DataFrame, bars: pl.DataFrame, config: BacktestConfig | None = None
) -> BacktestResult:
    """Backtest ``signals`` (timestamp, symbol, score) on ``bars`` under ``config``."""
    cfg = config or BacktestConfig()
    panel = MarketPanel.from_bars(bars, cfg.risk_window)
    scores = panel.align_scores(signals)
    entry, exit_ = panel.open[1:-1], panel.open[2:]
    signal_rows = slice(0, len(panel.dates) - 2)
    sigma, adv = panel.sigma[signal_rows], panel.adv[signal_rows]
    eligible = (
        np.isfinite(scores[signal_rows])
        & np.isfinite(entry)
        & np.isfinite(sigma)
        & np.isfinite(adv)
        & (adv > 0)
    )
    has_signal = eligible.any(axis=1)
    if not has_signal.any():
        raise ValueError("no day has a tradable signal: check that signals and bars overlap")
    first = int(np.argmax(has_signal))
    weights = target_weights(scores[signal_rows], eligible, cfg)[first:]
    # A name without a next open (e.g. delisted) is marked flat for that period.
    period_return = np.nan_to_num(exit_ / entry - 1.0, nan=0.0)[first:]
    # Names without a known volatility or ADV (closing a position in one, say) pay no impact.
    sigma = np.nan_to_num(sigma[first:])
    adv = np.where(np.isfinite(adv[first:]) & (adv[first:] > 0), adv[first:], np.inf)

    n_periods = weights.shape[0]
    gross, cost, turnover, equity = (np.empty(n_periods) for _ in range(4))
    held = np.zeros(weights.shape[1])  # drifted weights before trading
    value = cfg.capital
    for p in range(n_periods):
        trade = weights[p] - held
        cost_value = cfg.costs.cost(trade * value, sigma[p], adv[p]).sum()
        gross[p] = weights[p] @ period_return[p]
        cost[p] = cost_value / value
        turnover[p] = np.abs(trade).sum()
        net = gross[p] - cost[p]
        held = weights[p] * (1.0 + period_return[p]) / (1.0 + net)
        value *= 1.0 + net
        equity[p] = value
    net_return = gross - cost
    daily = pl.DataFrame(
        {
            "timestamp": panel.dates[1 + first : 1 + first + n_periods],
            "gross_return": gross,
            "cost": cost,
            "net_return": net_return,
            "turnover": turnover,
            "equity": equity,
            "drawdown": drawdown(np.concatenate([[cfg.capital], equity]))[1:],
        }
    )
    return BacktestResult(
        daily=daily,
        weights=weights,
        metrics=performance_metrics(net_return, turnover),
        final_equity=float(value),
    )
