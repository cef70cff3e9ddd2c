"""Strategies for the simulator: per-bar callbacks, each with a vectorized twin.

A strategy sees one snapshot at a time and returns a :class:`Signal` (scores and which names
are eligible) or ``None`` for no decision; the decision core turns signals into weights. Each
strategy here also computes the same scores for a whole panel at once (``scores``), which is
what the vectorized backtester consumes, so both simulators run the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import polars as pl

from quant_engine.simulation.events import BarPanel, BarSnapshot
from quant_engine.simulation.kernels import positions_kernel, sma_crossings_kernel


@dataclass(frozen=True, slots=True)
class Signal:
    scores: np.ndarray
    eligible: np.ndarray


class Strategy(Protocol):
    def start(self, symbols: list[str]) -> None:
        """Reset state for a run over ``symbols``."""

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        """React to the bar closing now; only data up to this bar exists."""


def positions_from_signals(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """1 from an entry until the next exit, else 0 (an entry while in is ignored), per column."""
    return positions_kernel(np.asarray(entries, dtype=bool), np.asarray(exits, dtype=bool))


@dataclass
class SmaCrossover:
    """Long while the fast SMA of closes is above the slow one, entered and left on crossings.

    Entry when the fast average crosses above the slow one (it was at or below on the previous
    bar), exit when it crosses back below. Scores are the held state (1 or 0); names are
    eligible once the slow average exists. Meant for per-symbol allocation.
    """

    fast: int = 10
    slow: int = 50
    _closes: np.ndarray = field(init=False, repr=False)
    _state: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={self.fast} slow={self.slow}")

    def crossings(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries and exits of a (timestamps x symbols) close matrix."""
        return sma_crossings_kernel(np.asarray(close, dtype=float), self.fast, self.slow)

    def scores(self, panel: BarPanel) -> np.ndarray:
        state = positions_from_signals(*self.crossings(panel.close))
        state[: self.slow - 1] = np.nan
        return state

    def start(self, symbols: list[str]) -> None:
        n = len(symbols)
        self._closes = np.zeros((self.slow, n))  # ring buffer of the last ``slow`` closes
        self._fast_sum, self._slow_sum = np.zeros(n), np.zeros(n)
        self._state = np.zeros(n)
        self._eligible = np.ones(n, dtype=bool)
        self._seen = 0
        self._prev_above = self._prev_below = None

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        seen, close = self._seen, bar.close
        slot = seen % self.slow
        self._slow_sum += close - self._closes[slot]  # the slot holds the close leaving
        self._fast_sum += close
        if seen >= self.fast:
            self._fast_sum -= self._closes[(seen - self.fast) % self.slow]
        self._closes[slot] = close
        self._seen = seen + 1
        if self._seen < self.slow:
            return None
        fast = self._fast_sum / self.fast
        slow = self._slow_sum / self.slow
        above, below = fast > slow, fast < slow
        if self._prev_above is not None:
            self._state[above & ~self._prev_above] = 1.0
            self._state[below & ~self._prev_below] = 0.0
        self._prev_above, self._prev_below = above, below
        return Signal(self._state.copy(), self._eligible)


@dataclass
class Momentum:
    """Trailing return over ``lookback`` bars as the score; meant for top-k ranking."""

    lookback: int = 20
    _closes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.lookback < 1:
            raise ValueError(f"lookback must be at least 1, got {self.lookback}")

    def scores(self, panel: BarPanel) -> np.ndarray:
        out = np.full(panel.close.shape, np.nan)
        out[self.lookback :] = panel.close[self.lookback :] / panel.close[: -self.lookback] - 1.0
        return out

    def start(self, symbols: list[str]) -> None:
        self._closes = np.zeros((self.lookback + 1, len(symbols)))
        self._seen = 0

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        self._closes[self._seen % (self.lookback + 1)] = bar.close
        self._seen += 1
        if self._seen <= self.lookback:
            return None
        then = self._closes[self._seen % (self.lookback + 1)]
        scores = bar.close / then - 1.0
        return Signal(scores, np.isfinite(scores))


@dataclass
class ScoreTable:
    """Precomputed scores (``timestamp, symbol, score``), released at their own timestamp."""

    signals: pl.DataFrame
    _rows: dict = field(init=False, repr=False)

    def start(self, symbols: list[str]) -> None:
        wide = self.signals.pivot(on="symbol", index="timestamp", values="score")
        for symbol in symbols:
            if symbol not in wide.columns:
                wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(symbol))
        matrix = wide.select(symbols).to_numpy().astype(float)
        self._rows = dict(zip(wide["timestamp"].to_list(), matrix, strict=True))

    def scores(self, panel: BarPanel) -> np.ndarray:
        self.start(panel.symbols)
        blank = np.full(len(panel.symbols), np.nan)
        return np.array([self._rows.get(ts, blank) for ts in panel.timestamps])

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        row = self._rows.get(bar.timestamp)
        if row is None:
            return None
        return Signal(row, np.isfinite(row))
