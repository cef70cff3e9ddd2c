"""The one portfolio config: what ``backtest`` tests is what ``target_portfolio`` and
``rebalance`` trade."""

from __future__ import annotations

from typing import Literal

import dagster as dg

from quant_engine.portfolio import ConstructionConfig, DecisionCore

Mode = Literal["long_only", "long_short"]


class PortfolioResource(dg.ConfigurableResource):
    """Portfolio construction and trade-planning rules, read by the backtests and the live book.

    ``mode`` is the book the live rebalance trades (the backtest reports both modes, each with
    these rules). See :class:`~quant_engine.portfolio.ConstructionConfig` for each rule.
    """

    mode: Mode = "long_only"
    top_k: int = 10
    threshold: float | None = None
    max_weight: float = 1.0
    max_volume_share: float | None = None
    min_trade_value: float = 0.0
    dust_weight: float = 0.0
    reserve_costs: bool | None = None
    # held back in cash when sizing, in the backtest as live: the broker's costs and rounding
    cash_buffer: float = 0.005

    def construction(self, mode: Mode | None = None) -> ConstructionConfig:
        """The engine's rules, for ``mode`` (default: the traded one)."""
        return ConstructionConfig(
            mode=mode or self.mode,
            top_k=self.top_k,
            threshold=self.threshold,
            max_weight=self.max_weight,
            max_volume_share=self.max_volume_share,
            min_trade_value=self.min_trade_value,
            dust_weight=self.dust_weight,
            reserve_costs=self.reserve_costs,
            cash_buffer=self.cash_buffer,
        )

    def core(self, mode: Mode | None = None) -> DecisionCore:
        return DecisionCore(self.construction(mode))
