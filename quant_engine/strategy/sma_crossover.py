"""An example strategy model: SMA crossover, equal-weighted, with optional entry filters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_engine.strategy.context import EntryCandidate, StrategyContext
from quant_engine.strategy.filters import EntryFilter
from quant_engine.strategy.model import Decisions, TargetWeight


@dataclass(frozen=True)
class SmaCrossoverConfig:
    """Long where the ``fast``-bar average of closes is above the ``slow`` one (short below
    when ``allow_short``); the active symbols share ``gross_exposure`` equally."""

    fast: int = 10
    slow: int = 50
    allow_short: bool = False
    gross_exposure: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"SMA crossover: need 1 <= fast < slow, got {self.fast}, {self.slow}")
        if not self.gross_exposure > 0:
            raise ValueError("SMA crossover: gross_exposure must be positive")


class SmaCrossoverModel:
    """Implements :class:`~quant_engine.strategy.model.StrategyModel`.

    New entries (a symbol not already held on the signalled side) must pass ``entry_filter``
    when one is given; a held position keeps its side while the crossover does.
    """

    def __init__(
        self, config: SmaCrossoverConfig | None = None, entry_filter: EntryFilter | None = None
    ) -> None:
        self.config = config or SmaCrossoverConfig()
        self.entry_filter = entry_filter

    def _call(self, ctx: StrategyContext, symbol: str) -> tuple[int, str]:
        """(direction, reason) for ``symbol`` from its closes up to now."""
        fast, slow = self.config.fast, self.config.slow
        closes = ctx.closes(symbol)
        if closes.size < slow:
            return 0, f"{closes.size} bars, need {slow}"
        fast_avg, slow_avg = float(np.mean(closes[-fast:])), float(np.mean(closes[-slow:]))
        relation = f"SMA{fast} {fast_avg:.4f} vs SMA{slow} {slow_avg:.4f}"
        if fast_avg > slow_avg:
            return 1, f"{relation}: fast above slow"
        if fast_avg < slow_avg and self.config.allow_short:
            return -1, f"{relation}: fast below slow"
        return 0, f"{relation}: no long signal"

    def decide(self, ctx: StrategyContext) -> Decisions:
        calls: dict[str, tuple[int, str]] = {}
        for symbol in ctx.symbols:
            direction, reason = self._call(ctx, symbol)
            holding = ctx.holding(symbol)
            is_new = holding is None or holding.direction != direction
            if direction != 0 and is_new and self.entry_filter is not None:
                decision = self.entry_filter.check(ctx, EntryCandidate(symbol, direction))
                if not decision:
                    direction, reason = 0, f"{reason}; entry refused: {decision.reason}"
            calls[symbol] = (direction, reason)
        active = sum(1 for direction, _ in calls.values() if direction != 0)
        each = self.config.gross_exposure / active if active else 0.0
        return Decisions(
            timestamp=ctx.timestamp,
            weights=tuple(
                TargetWeight(symbol, direction * each, reason)
                for symbol, (direction, reason) in calls.items()
            ),
        )
