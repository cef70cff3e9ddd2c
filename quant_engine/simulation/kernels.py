"""Compiled whole-panel versions of the strategies' sequential rules (their vectorized twins)."""

from __future__ import annotations

import numba
import numpy as np


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


@numba.njit(cache=True)
def sma_crossings_kernel(close, fast, slow):  # pragma: no cover - compiled
    """Entries (fast SMA crosses above slow) and exits (crosses below) of a close matrix.

    Running sums in the same order of operations as ``SmaCrossover.on_bar``, so the bar-by-bar
    strategy and this kernel agree bit for bit.
    """
    n_rows, n_cols = close.shape
    entries = np.zeros((n_rows, n_cols), dtype=np.bool_)
    exits = np.zeros((n_rows, n_cols), dtype=np.bool_)
    fast_sum = np.zeros(n_cols)
    slow_sum = np.zeros(n_cols)
    prev_above = np.zeros(n_cols, dtype=np.bool_)
    prev_below = np.zeros(n_cols, dtype=np.bool_)
    for t in range(n_rows):
        for j in range(n_cols):
            c = close[t, j]
            slow_sum[j] += c - (close[t - slow, j] if t >= slow else 0.0)
            fast_sum[j] += c
            if t >= fast:
                fast_sum[j] -= close[t - fast, j]
            if t >= slow - 1:
                f = fast_sum[j] / fast
                s = slow_sum[j] / slow
                above = f > s
                below = f < s
                if t >= slow:
                    entries[t, j] = above and not prev_above[j]
                    exits[t, j] = below and not prev_below[j]
                prev_above[j] = above
                prev_below[j] = below
    return entries, exits
