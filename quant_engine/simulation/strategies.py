"""Strategies for the simulator: per-bar callbacks, each with a vectorized twin.

A strategy sees one snapshot at a time and returns a :class:`Signal` (scores and which names
are eligible) or ``None`` for no decision; the decision core turns signals into weights. Each
strategy here also computes the same scores for a whole panel at once (``scores``), which is
what the vectorized backtester consumes, so both simulators run the same rules.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from quant_engine.simulation.events import BarPanel, BarSnapshot
from quant_engine.simulation.kernels import (
    momentum_kernel,
    momentum_step_kernel,
    positions_kernel,
    sma_crossings_kernel,
    sma_step_kernel,
)


@dataclass(frozen=True, slots=True)
class Signal:
    scores: np.ndarray
    eligible: np.ndarray


class Strategy(Protocol):
    def start(self, symbols: list[str]) -> None:
        """Reset state for a run over ``symbols``."""

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        """React to the bar closing now; only data up to this bar exists."""


class PanelSignals(Protocol):
    """A strategy whose signals at every bar are known from the panel up front, which lets the
    simulator run its bar loop compiled (``Simulator``)."""

    def panel_signals(self, panel: BarPanel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(scores, eligible) per timestamp and symbol, and per timestamp whether ``on_bar``
        returns a signal there: what ``on_bar`` gives bar by bar, each row from the bars up
        to its own."""


def load_strategy_class(spec: str, search: str | Path | None = None) -> type:
    """The class ``package.module:ClassName`` names, checked to follow :class:`Strategy`.

    The module is imported from ``sys.path``, then from ``search`` (a run config's folder).
    Raises ``ValueError`` with one line naming what is wrong: the spec, the module, the class.
    """
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name.isidentifier():
        raise ValueError(f"expected 'package.module:ClassName', got {spec!r}")
    added = search is not None and str(search) not in sys.path
    if added:
        sys.path.append(str(search))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import module {module_name!r} of {spec!r}: {exc}") from exc
    except Exception as exc:  # the user's module failed while it was imported
        raise ValueError(
            f"importing module {module_name!r} of {spec!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if added:
            sys.path.remove(str(search))
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ValueError(f"module {module_name!r} has no {class_name!r} (from {spec!r})")
    lacking = [m for m in ("start", "on_bar") if not callable(getattr(cls, m, None))]
    if not isinstance(cls, type) or lacking:
        what = "it is not a class" if not isinstance(cls, type) else f"it has no {lacking[0]}"
        raise ValueError(
            f"{spec!r} is not a strategy: {what} (a strategy class has start(symbols) and "
            "on_bar(bar) -> Signal | None)"
        )
    return cls


def positions_from_signals(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """1 from an entry until the next exit, else 0 (an entry while in is ignored), per column."""
    return positions_kernel(np.asarray(entries, dtype=bool), np.asarray(exits, dtype=bool))


@dataclass
class SmaCrossover:
    """Long while the fast SMA of closes is above the slow one, entered and left on crossings.

    Entry when the fast average crosses above the slow one (it was at or below on the previous
    bar), exit when it crosses back below (it was at or above). Averages equal to within
    ``kernels.TIE_RTOL`` (relative) are a tie: neither above nor below (the sums are
    recomputed exactly every ``slow`` bars, so rounding stays far below that). The averages run over
    each symbol's own last ``fast`` / ``slow`` bars: a missing bar is skipped, not counted, so
    a gap or a late listing delays nothing but that symbol's own window. Scores are the held
    state (1 or 0, kept through a missing bar); a name is eligible once it has ``slow`` bars.
    Meant for per-symbol allocation.
    """

    fast: int = 10
    slow: int = 50
    _ring: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("fast", "slow"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must be an integer number of bars, got {value!r}")
        if not 1 <= self.fast < self.slow:
            raise ValueError(f"need 1 <= fast < slow, got fast={self.fast} slow={self.slow}")

    def crossings(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries and exits of a (timestamps x symbols) close matrix (NaN: no bar)."""
        close = np.asarray(close, dtype=float)
        entries, exits, _ = sma_crossings_kernel(close, self.fast, self.slow)
        return entries, exits

    def scores(self, panel: BarPanel) -> np.ndarray:
        entries, exits, ready = sma_crossings_kernel(
            np.asarray(panel.close, dtype=float), self.fast, self.slow
        )
        state = positions_from_signals(entries, exits)
        state[~ready] = np.nan
        return state

    def panel_signals(self, panel: BarPanel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:class:`PanelSignals`: the held state, eligible once a symbol has ``slow`` bars, a
        signal from the first bar at which any symbol has."""
        scores = self.scores(panel)
        eligible = np.isfinite(scores)
        return scores, eligible, eligible.any(axis=1)

    def start(self, symbols: list[str]) -> None:
        n = len(symbols)
        self._ring = np.zeros((self.slow, n))  # each symbol's last ``slow`` closes
        self._seen = np.zeros(n, dtype=np.int64)
        self._sums = np.zeros((2, n))  # running fast and slow sums
        self._prev_above = np.zeros(n, dtype=bool)
        self._prev_below = np.zeros(n, dtype=bool)
        self._state = np.full(n, np.nan)  # held state; NaN until a symbol has ``slow`` bars

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        ready = sma_step_kernel(
            self._ring,
            self._seen,
            self._sums,
            self._prev_above,
            self._prev_below,
            self._state,
            np.asarray(bar.close, dtype=float),
            self.fast,
            self.slow,
        )
        if not ready:
            return None
        scores = self._state.copy()
        return Signal(scores, scores == scores)  # eligible: not NaN


@dataclass
class Momentum:
    """Trailing return over each symbol's own last ``lookback`` bars; meant for top-k ranking.

    A symbol without a bar keeps its last score; it is eligible once it has ``lookback + 1``
    bars.
    """

    lookback: int = 20
    _ring: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        value = self.lookback
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"lookback must be an integer number of bars, got {value!r}")
        if self.lookback < 1:
            raise ValueError(f"lookback must be at least 1, got {self.lookback}")

    def scores(self, panel: BarPanel) -> np.ndarray:
        return momentum_kernel(np.asarray(panel.close, dtype=float), self.lookback)

    def panel_signals(self, panel: BarPanel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:class:`PanelSignals`: the trailing returns, eligible where known, a signal at every
        bar with an eligible name."""
        scores = self.scores(panel)
        eligible = np.isfinite(scores)
        return scores, eligible, eligible.any(axis=1)

    def start(self, symbols: list[str]) -> None:
        n = len(symbols)
        self._ring = np.zeros((self.lookback + 1, n))
        self._seen = np.zeros(n, dtype=np.int64)
        self._score = np.full(n, np.nan)

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        momentum_step_kernel(
            self._ring, self._seen, self._score, np.asarray(bar.close, dtype=float), self.lookback
        )
        eligible = np.isfinite(self._score)
        if not eligible.any():
            return None
        return Signal(self._score.copy(), eligible)


@dataclass
class ScoreTable:
    """Precomputed scores (``timestamp, symbol, score``), released at their own timestamp.

    From the first scored timestamp on, a bar without scores is a decision without valid
    scores (no targets), as the NaN row :meth:`scores` gives the vectorized backtester.
    """

    signals: pl.DataFrame
    _rows: dict = field(init=False, repr=False)

    def start(self, symbols: list[str]) -> None:
        wide = self.signals.pivot(on="symbol", index="timestamp", values="score")
        for symbol in symbols:
            if symbol not in wide.columns:
                wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(symbol))
        matrix = wide.select(symbols).to_numpy().astype(float)
        self._rows = dict(zip(wide["timestamp"].to_list(), matrix, strict=True))
        self._first = min(self._rows, default=None)
        self._blank = Signal(np.full(len(symbols), np.nan), np.zeros(len(symbols), dtype=bool))

    def scores(self, panel: BarPanel) -> np.ndarray:
        self.start(panel.symbols)
        blank = np.full(len(panel.symbols), np.nan)
        return np.array([self._rows.get(ts, blank) for ts in panel.timestamps])

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        row = self._rows.get(bar.timestamp)
        if row is None:
            return None if self._first is None or bar.timestamp < self._first else self._blank
        return Signal(row, np.isfinite(row))
