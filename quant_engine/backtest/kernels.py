"""Compiled inner loops of the vectorized backtest."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def sleeves_kernel(
    weights, marks, open_, first, start, rate, track_held
):  # pragma: no cover - compiled
    """All-in/all-out long sleeves with linear costs, in one pass over (periods x names).

    Period ``p`` holds the sleeves with a positive ``weights[p]`` from the open of row
    ``first + 1 + p`` (``entry``) to the next (``exit``), at ``marks``; a name without both
    prices is marked flat for it; a name that cannot trade at a period's open (no bar in
    ``open_``) keeps its side. Returns per-period gross PnL, cost, traded notional and equity,
    the trade matrix (each trade costs ``rate`` x its notional), the final sleeve values and
    which names are held after each trade date (with ``track_held``, else none; see
    ``backtest.vectorized``). Sums run in name order, per period, in registers.
    """
    n_periods, n_names = weights.shape
    gross = np.empty(n_periods)
    cost = np.empty(n_periods)
    traded = np.empty(n_periods)
    equity = np.empty(n_periods)
    trades = np.empty((n_periods, n_names))
    value = np.full(n_names, start)
    held = np.zeros((n_periods if track_held else 0, n_names), dtype=np.bool_)
    was_on = np.zeros(n_names, dtype=np.bool_)
    for p in range(n_periods):
        row = first + 1 + p
        w, opens, entry, exit_, out = weights[p], open_[row], marks[row], marks[row + 1], trades[p]
        g = c = t = total = 0.0
        for j in range(n_names):
            was = was_on[j]
            now_on = w[j] > 0.0 if math.isfinite(opens[j]) else was
            v = value[j]
            trade = 0.0
            if now_on:
                r = exit_[j] / entry[j] - 1.0
                if not math.isfinite(r):
                    r = 0.0
                if was:
                    pnl = v * r
                    v = v + pnl
                else:
                    trade = v / (1.0 + rate)
                    t += trade
                    pnl = trade * r
                    fee = trade * rate
                    c += fee
                    v = v + pnl - fee
                g += pnl
            elif was:
                trade = -v
                t += v
                fee = v * rate
                c += fee
                v = v - fee
            out[j] = trade
            value[j] = v
            was_on[j] = now_on
            total += v
        if track_held:
            held[p] = was_on
        gross[p] = g
        cost[p] = c
        traded[p] = t
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
