"""Compiled inner loops of the vectorized backtest."""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True)
def first_scored_row(scores):  # pragma: no cover - compiled
    """The first row of ``scores`` with a finite value (-1: none)."""
    for t in range(scores.shape[0]):
        for j in range(scores.shape[1]):
            if math.isfinite(scores[t, j]):
                return t
    return -1


@numba.njit(cache=True, inline="always", error_model="numpy")
def _sleeves_period(
    scores, opens, entry, exit_, cut, before, after, on, pnl, trade
):  # pragma: no cover - compiled
    """One period of :func:`sleeves_kernel`, name by name without branches (so it vectorizes):
    updates each name's side (``on``) and writes its value (``before`` to ``after``), its PnL
    and a mark of its trade (its value before: + entering, - leaving, 0 none) as if no trade
    paid a fee or an entry bought the whole value: the kernel settles those few names after."""
    for j in range(scores.shape[0]):
        x = scores[j]
        # sleeve_weight(x, True, cut, False), spelt out so that it vectorizes
        target = 1.0 if (x > cut) & (abs(x) < math.inf) else 0.0
        was = on[j]
        now = target if abs(opens[j]) < math.inf else was  # no bar at the open: keep the side
        r = exit_[j] / entry[j] - 1.0
        r = r if abs(r) < math.inf else 0.0  # no price at either open: flat for the period
        v = before[j]
        p = v * r if now > 0.0 else 0.0
        pnl[j] = p
        trade[j] = v if now > was else (-v if now < was else 0.0)
        after[j] = v + p
        on[j] = now


@numba.njit(cache=True, error_model="numpy")
def sleeves_kernel(
    scores, marks, open_, first, start, rate, cut, track_targets, track_held
):  # pragma: no cover - compiled
    """All-in/all-out long sleeves with linear costs, in one pass over (periods x names).

    Period ``p`` holds the sleeves whose score of row ``first + p`` is finite and above ``cut``
    (a sleeve weight of 1, see ``portfolio.kernels.sleeve_weight``) from the open of row
    ``first + 1 + p`` (``entry``) to the next (``exit``), at ``marks``; a name without both
    prices is marked flat for it; a name that cannot trade at a period's open (no bar in
    ``open_``) keeps its side. Entering buys ``V / (1 + rate)`` and pays ``rate`` on it,
    exiting pays ``rate * V``. Returns per-period gross PnL, cost, traded notional and equity;
    the trades as their (period, name) cells, notionals (each costs ``rate`` x its notional)
    and the sides they leave (1 or 0); with ``track_targets``, the cells where a target weight
    changes (from 0) and its new values, else none (with a bar at every open the targets are
    the sides); the final sleeve values; and which names are held after each trade date (with
    ``track_held``, else none; see ``backtest.vectorized``). Sums run in name order, per
    period.
    """
    n_periods = scores.shape[0] - first
    n_names = scores.shape[1]
    gross = np.empty(n_periods)
    cost = np.empty(n_periods)
    traded = np.empty(n_periods)
    equity = np.empty(n_periods)
    # Room for every cell: only the pages written to are ever touched.
    room = n_periods * n_names
    trade_at = np.empty((room, 2), dtype=np.int64)
    notional = np.empty(room)
    sides = np.empty(room)
    change_at = np.empty((room if track_targets else 0, 2), dtype=np.int64)
    changed_to = np.empty(room if track_targets else 0)
    held = np.zeros((n_periods if track_held else 0, n_names), dtype=np.bool_)
    before = np.full(n_names, start)
    after = np.empty(n_names)
    on = np.zeros(n_names)
    weight = np.zeros(n_names)
    pnl = np.empty(n_names)
    trade = np.empty(n_names)
    scale = 1.0 + rate
    n_trades = n_changes = 0
    for p in range(n_periods):
        row = first + 1 + p
        entry, exit_ = marks[row], marks[row + 1]
        _sleeves_period(
            scores[first + p], open_[row], entry, exit_, cut, before, after, on, pnl, trade
        )
        g = c = t = total = 0.0
        for j in range(n_names):
            if trade[j] != 0.0:  # a side change: settle its fee (and an entry's buy)
                v = before[j]
                if on[j] > 0.0:  # an entry buys v / (1 + rate): its PnL is that holding's
                    r = exit_[j] / entry[j] - 1.0
                    r = r if abs(r) < math.inf else 0.0
                    buy = v / scale
                    pnl[j] = buy * r
                    fee = buy * rate
                    trade[j] = buy
                    after[j] = v + pnl[j] - fee
                else:
                    fee = v * rate
                    after[j] = v + 0.0 - fee
                if trade[j] != 0.0:  # only a trade pays a fee: the other terms of c and t are 0
                    c += fee
                    t += abs(trade[j])
                    trade_at[n_trades, 0] = p
                    trade_at[n_trades, 1] = j
                    notional[n_trades] = trade[j]
                    sides[n_trades] = on[j]
                    n_trades += 1
            g += pnl[j]
            total += after[j]
        if track_targets:
            s = scores[first + p]
            for j in range(n_names):
                x = s[j]
                aim = 1.0 if (x > cut) & (abs(x) < math.inf) else 0.0
                if aim != weight[j]:
                    change_at[n_changes, 0] = p
                    change_at[n_changes, 1] = j
                    changed_to[n_changes] = aim
                    weight[j] = aim
                    n_changes += 1
        if track_held:
            for j in range(n_names):
                held[p, j] = on[j] > 0.0
        gross[p] = g
        cost[p] = c
        traded[p] = t
        equity[p] = total
        before, after = after, before
    return (
        gross,
        cost,
        traded,
        equity,
        trade_at[:n_trades].copy(),
        notional[:n_trades].copy(),
        sides[:n_trades].copy(),
        change_at[:n_changes].copy(),
        changed_to[:n_changes].copy(),
        before,
        held,
    )


@numba.njit(cache=True)
def marks_kernel(open_, close):  # pragma: no cover - compiled
    """Each open, or where a name has no bar, its last known price (the last close before)."""
    n_rows, n_cols = open_.shape
    missing = 0
    for t in range(n_rows):
        row = open_[t]
        for j in range(n_cols):  # a count, not a branch: the loop vectorizes
            missing += 0 if abs(row[j]) < math.inf else 1
    if missing == 0:
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
