"""Execution-cost study: the same sampled parent orders run by each algorithm on daily bars."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from quant_engine.backtest.costs import CostModel
from quant_engine.execution.algorithms import ALGORITHMS, build_algorithm
from quant_engine.execution.bars import (
    BarExecutionConfig,
    SymbolBars,
    pre_trade_estimates,
    run_on_bars,
)
from quant_engine.execution.commission import BpsCommission
from quant_engine.execution.impact import child_impact
from quant_engine.execution.report import ParentOrder
from quant_engine.orderbook.types import Side

RESULT_COLUMNS = (
    "symbol",
    "start",
    "algorithm",
    "parent_qty",
    "pct_adv",
    "filled_qty",
    "execution_bps",
    "commission_bps",
    "opportunity_bps",
    "shortfall_bps",
)


@dataclass(frozen=True)
class StudyConfig:
    """Per symbol, ``n_starts`` seeded start days, each a parent of ``pct_adv`` of the average
    daily volume (estimated up to that day) traded over the next ``n_slots`` bars.

    ``costs`` is the engine's one cost model (the backtest's), applied per child."""

    pct_adv: float = 0.05
    side: str = "buy"
    n_starts: int = 5
    seed: int = 0
    execution: BarExecutionConfig = field(default_factory=BarExecutionConfig)
    algorithms: tuple[str, ...] = ("twap", "vwap", "pov", "is")
    vwap_lookback: int = 20
    pov_rate: float = 0.1
    is_urgency: float = 2.0
    costs: CostModel = field(default_factory=CostModel)

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell") or self.pct_adv <= 0 or self.n_starts < 1:
            raise ValueError(f"invalid study config: {self}")
        unknown = set(self.algorithms) - set(ALGORITHMS)
        if unknown or not self.algorithms:
            raise ValueError(f"unknown algorithms {sorted(unknown)}; use twap, vwap, pov, is")

    def build_algorithms(self) -> list:
        return [
            build_algorithm(
                name,
                vwap_lookback=self.vwap_lookback,
                pov_rate=self.pov_rate,
                urgency=self.is_urgency,
            )
            for name in self.algorithms
        ]


def execution_cost_table(bars: pl.DataFrame, config: StudyConfig) -> pl.DataFrame:
    """One row per (symbol, start day, algorithm): the parent and its shortfall in bps."""
    impact = child_impact(config.costs)
    commission = BpsCommission(config.costs.commission_bps)
    algorithms = config.build_algorithms()
    side = Side.BUY if config.side == "buy" else Side.SELL
    rng = np.random.default_rng(config.seed)
    window, n_slots = config.execution.estimate_window, config.execution.n_slots
    rows = []
    by_symbol = bars.partition_by("symbol", as_dict=True)
    for (symbol,) in sorted(by_symbol):
        series = SymbolBars.from_frame(by_symbol[(symbol,)], symbol)
        candidates = np.arange(window, len(series.timestamp) - n_slots)
        if len(candidates) == 0:
            continue
        starts = np.sort(rng.choice(candidates, min(config.n_starts, len(candidates)), False))
        for start in starts.tolist():
            _, adv = pre_trade_estimates(series, start, window)
            qty = max(1, round(config.pct_adv * adv))
            parent = ParentOrder(side, qty, series.timestamp[start])
            for algorithm in algorithms:
                report = run_on_bars(
                    parent, series, algorithm, impact, commission, config.execution
                )
                summary = report.summary()
                rows.append(
                    {
                        "symbol": symbol,
                        "start": series.times[start],
                        "pct_adv": qty / adv,
                        **{k: summary[k] for k in RESULT_COLUMNS if k in summary},
                    }
                )
    if not rows:
        raise ValueError(
            f"no symbol has the {window + n_slots + 1} bars a parent order needs in the study"
        )
    return pl.DataFrame(rows).select(RESULT_COLUMNS)


def shortfall_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per algorithm: count, mean, standard deviation and percentiles of the shortfall (bps)."""
    bps = pl.col("shortfall_bps")
    return (
        table.group_by("algorithm")
        .agg(
            pl.len().alias("n"),
            bps.mean().alias("mean_bps"),
            bps.std().alias("std_bps"),
            bps.quantile(0.05, "linear").alias("p05_bps"),
            bps.median().alias("p50_bps"),
            bps.quantile(0.95, "linear").alias("p95_bps"),
        )
        .sort("algorithm")
    )
