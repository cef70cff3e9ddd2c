"""Compiled inner loops of the vectorized backtest."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def sleeves_kernel(
    on, entry, exit_, tradable, start, rate, track_held
):  # pragma: no cover - compiled
    """All-in/all-out long sleeves with linear costs, one pass over (periods x names).

    A period runs from one open (``entry``) to the next (``exit_``); a name without both
    prices is marked flat for it; a name that cannot trade at a period's open (no bar) keeps
    its side. Returns per-period gross PnL, cost, traded notional and equity, the trade
    matrix (each trade costs ``rate`` x its notional), the final sleeve values and which
    names are held after each trade date (with ``track_held``, else none; see
    ``backtest.vectorized``).
    """
    n_periods, n_names = on.shape
    gross = np.zeros(n_periods)
    cost = np.zeros(n_periods)
    traded = np.zeros(n_periods)
    equity = np.zeros(n_periods)
    trades = np.zeros((n_periods, n_names))
    value = np.full(n_names, start)
    held = np.zeros((n_periods if track_held else 0, n_names), dtype=np.bool_)
    was_on = np.zeros(n_names, dtype=np.bool_)
    for p in range(n_periods):
        for j in range(n_names):
            now_on = on[p, j] if tradable[p, j] else was_on[j]
            if track_held:
                held[p, j] = now_on
            if not (now_on or was_on[j]):
                continue  # flat before and after: nothing to do
            v = value[j]
            if now_on:
                r = exit_[p, j] / entry[p, j] - 1.0
                if not math.isfinite(r):
                    r = 0.0
                if was_on[j]:
                    pnl = v * r
                    c = 0.0
                else:
                    invested = v / (1.0 + rate)
                    trades[p, j] = invested
                    traded[p] += invested
                    pnl = invested * r
                    c = invested * rate
            else:
                trades[p, j] = -v
                traded[p] += v
                pnl = 0.0
                c = v * rate
            gross[p] += pnl
            cost[p] += c
            value[j] = v + pnl - c
            was_on[j] = now_on
        total = 0.0
        for j in range(n_names):
            total += value[j]
        equity[p] = total
    return gross, cost, traded, equity, trades, value, held


@numba.njit(cache=True)
def marks_kernel(open_, close):  # pragma: no cover - compiled
    """Each open, or where a name has no bar, its last known price (the last close before)."""
    n_rows, n_cols = open_.shape
    complete = True
    for t in range(n_rows):
        for j in range(n_cols):
            if not math.isfinite(open_[t, j]):
                complete = False
    if complete:
        return open_
    out = np.empty((n_rows, n_cols))
    last = np.full(n_cols, np.nan)
    for t in range(n_rows):
        for j in range(n_cols):
            o = open_[t, j]
            out[t, j] = o if math.isfinite(o) else last[j]
            c = close[t, j]
            if math.isfinite(c):
                last[j] = c
    return out
