"""Compiled rules of the strategies, shared by their per-bar and whole-panel forms.

Every rule keeps its state per symbol and advances it only on that symbol's own bars: a missing
bar (NaN) leaves the state as it was, so a gap, a late listing or a delisting neither poisons a
window nor shifts it. The per-bar step (``SmaCrossover.on_bar``) and the panel kernel
(``SmaCrossover.scores``) call the same step function, so the two agree bit for bit.
"""

from __future__ import annotations

import math

import numba
import numpy as np

TIE_RTOL = 1e-12
"""Averages closer than this (relative) count as equal. Prices quoted in cents that average
exactly the same differ by float rounding only (~1e-15); two different averages of such prices
differ by far more (0.01 / (fast x slow) in price), so the rule decides real ties as ties."""


@numba.njit(cache=True)
def positions_kernel(entries, exits):  # pragma: no cover - compiled
    """1 from an entry until the next exit, else 0, per column (an entry wins a tie)."""
    n_rows, n_cols = entries.shape
    out = np.empty((n_rows, n_cols))
    state = np.zeros(n_cols)
    for t in range(n_rows):
        for j in range(n_cols):
            if entries[t, j]:
                state[j] = 1.0
            elif exits[t, j]:
                state[j] = 0.0
            out[t, j] = state[j]
    return out


@numba.njit(cache=True, inline="always")
def _window_mean(ring, j, seen, length, size):  # pragma: no cover - compiled
    """Mean of the last ``length`` values of column ``j`` of a ring of ``size`` rows, summed
    oldest first (recomputed, never a running sum, so no rounding drifts in)."""
    total = 0.0
    for k in range(seen - length, seen):
        total += ring[k % size, j]
    return total / length


@numba.njit(cache=True)
def sma_step_kernel(
    ring, seen, prev_above, prev_below, close, fast, slow, entries, exits
):  # pragma: no cover - compiled
    """Advance each symbol that has a close in this row; mark its entries and exits.

    An entry: the fast SMA is above the slow one and was at or below it on the symbol's
    previous bar; an exit: below, and was at or above. Averages within ``TIE_RTOL`` are equal.
    """
    for j in range(close.shape[0]):
        c = close[j]
        entries[j] = False
        exits[j] = False
        if not math.isfinite(c):
            continue
        ring[seen[j] % slow, j] = c
        seen[j] += 1
        if seen[j] < slow:
            continue
        f = _window_mean(ring, j, seen[j], fast, slow)
        s = _window_mean(ring, j, seen[j], slow, slow)
        tie = abs(f - s) <= TIE_RTOL * max(abs(f), abs(s))
        above = f > s and not tie
        below = f < s and not tie
        if seen[j] > slow:
            entries[j] = above and not prev_above[j]
            exits[j] = below and not prev_below[j]
        prev_above[j] = above
        prev_below[j] = below


@numba.njit(cache=True)
def sma_crossings_kernel(close, fast, slow):  # pragma: no cover - compiled
    """Entries, exits and readiness (the symbol has ``slow`` bars) of a close matrix."""
    n_rows, n_cols = close.shape
    entries = np.zeros((n_rows, n_cols), dtype=np.bool_)
    exits = np.zeros((n_rows, n_cols), dtype=np.bool_)
    ready = np.zeros((n_rows, n_cols), dtype=np.bool_)
    ring = np.zeros((slow, n_cols))
    seen = np.zeros(n_cols, dtype=np.int64)
    prev_above = np.zeros(n_cols, dtype=np.bool_)
    prev_below = np.zeros(n_cols, dtype=np.bool_)
    for t in range(n_rows):
        sma_step_kernel(
            ring, seen, prev_above, prev_below, close[t], fast, slow, entries[t], exits[t]
        )
        for j in range(n_cols):
            ready[t, j] = seen[j] >= slow
    return entries, exits, ready


@numba.njit(cache=True)
def momentum_step_kernel(ring, seen, score, close, lookback):  # pragma: no cover - compiled
    """Trailing return over each symbol's last ``lookback`` own bars; a symbol without a bar
    keeps its last score (NaN until it has ``lookback + 1`` bars)."""
    size = lookback + 1
    for j in range(close.shape[0]):
        c = close[j]
        if not math.isfinite(c):
            continue
        ring[seen[j] % size, j] = c
        seen[j] += 1
        if seen[j] > lookback:
            score[j] = c / ring[seen[j] % size, j] - 1.0


@numba.njit(cache=True)
def momentum_kernel(close, lookback):  # pragma: no cover - compiled
    """The per-bar momentum rule over a whole close matrix."""
    n_rows, n_cols = close.shape
    out = np.empty((n_rows, n_cols))
    ring = np.zeros((lookback + 1, n_cols))
    seen = np.zeros(n_cols, dtype=np.int64)
    score = np.full(n_cols, np.nan)
    for t in range(n_rows):
        momentum_step_kernel(ring, seen, score, close[t], lookback)
        out[t] = score
    return out


@numba.njit(cache=True)
def rolling_risk_step(
    returns, dollars, last_log, seen, sigma, adv, close, volume, window
):  # pragma: no cover - compiled
    """Advance each symbol with a bar: its log return and dollar volume enter its window.

    ``sigma`` (ddof 1 over ``window`` returns) and ``adv`` (mean of ``window`` dollar volumes)
    keep their last value while a symbol has no bar; NaN until its window is full.
    """
    for j in range(close.shape[0]):
        c = close[j]
        if not math.isfinite(c):
            continue
        log_c = math.log(c)
        slot = seen[j] % window
        returns[slot, j] = log_c - last_log[j] if seen[j] > 0 else np.nan
        dollars[slot, j] = c * volume[j]
        last_log[j] = log_c
        seen[j] += 1
        if seen[j] >= window:
            total = 0.0
            for k in range(window):
                total += dollars[k, j]
            adv[j] = total / window
        if seen[j] > window:
            mean = 0.0
            for k in range(window):
                mean += returns[k, j]
            mean /= window
            var = 0.0
            for k in range(window):
                d = returns[k, j] - mean
                var += d * d
            sigma[j] = math.sqrt(var / (window - 1))
