"""The decision core's per-name arithmetic, compiled with numba.

Every name is handled on its own, so one pass over the names replaces a few dozen small numpy
calls per rebalance; that is what lets the event-driven simulator rebalance every bar at
millions of bar events a second. ``decision.py`` holds the documented API.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _sign(x):  # pragma: no cover - compiled
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


@numba.njit(cache=True, inline="always")
def sleeve_weight(score, eligible, cut, long_short):  # pragma: no cover - compiled
    """One name's sleeve weight: +1 if eligible with a finite score above ``cut``, -1
    (``long_short``) if eligible with a finite score below ``-cut``, else 0."""
    w = 0.0
    if eligible and math.isfinite(score):
        if score > cut:
            w = 1.0
        elif long_short and score < -cut:
            w = -1.0
    return w


@numba.njit(cache=True)
def sleeve_weights_kernel(scores, eligible, cut, long_short):  # pragma: no cover - compiled
    """:func:`sleeve_weight` per name (flat arrays)."""
    out = np.empty(scores.shape[0])
    for i in range(scores.shape[0]):
        out[i] = sleeve_weight(scores[i], eligible[i], cut, long_short)
    return out


@numba.njit(cache=True)
def rebalance_kernel(
    target, held, equity, per_symbol, entry_scale, dust, volume_share, adv, min_trade
):  # pragma: no cover - compiled
    """New weights per name; ``equity`` has one entry (the book) or one per name (sleeves).

    ``volume_share`` NaN disables size risk; returns (weights, discarded value, skipped trades).
    """
    n = target.shape[0]
    out = np.empty(n)
    discarded = 0.0
    skipped = 0
    for i in range(n):
        eq = equity[0] if equity.shape[0] == 1 else equity[i]
        h = held[i]
        w = target[i]
        if per_symbol and w != 0 and _sign(w) == _sign(h):
            w = h
        if w != 0 and _sign(w) != _sign(h):
            w *= entry_scale
        if abs(w) < dust:
            w = 0.0
        if not math.isnan(volume_share):
            a = adv[i]
            cap = volume_share * a / eq if (math.isfinite(a) and a > 0) else 0.0
            if abs(w) > cap:
                discarded += (abs(w) - cap) * eq
                w = _sign(w) * cap
        if min_trade > 0 and w != 0 and w != h and abs(w - h) * eq < min_trade:
            skipped += 1
            w = h
        out[i] = w
    return out, discarded, skipped


@numba.njit(cache=True)
def sells_first_kernel(trades):  # pragma: no cover - compiled
    """Indices of the non-zero trades: sells, then buys, each in name order."""
    order = np.empty(trades.shape[0], dtype=np.int64)
    k = 0
    for i in range(trades.shape[0]):
        if trades[i] < 0:
            order[k] = i
            k += 1
    for i in range(trades.shape[0]):
        if trades[i] > 0:
            order[k] = i
            k += 1
    return order[:k]


@numba.njit(cache=True)
def plan_kernel(
    weights,
    shares,
    cash,
    sleeve_equity,
    prices,
    marks,
    per_symbol,
    entry_scale,
    dust,
    volume_share,
    adv,
    min_trade,
    invested,
    lots,
    min_notional,
):  # pragma: no cover - compiled
    """Target shares for ``weights`` at ``prices`` (names without a price keep their shares).

    Weights are sized on ``invested`` (1 less the cash buffer) of the equity. ``lots`` (empty:
    fractional shares; 0 for a name: no lot) round each new target toward zero to whole lots;
    trades worth less than ``min_notional`` (empty: no minimum) are not made. Returns (target
    shares, trades, order of the trades (sells first), final weights, equity per name or of the
    book, discarded value, skipped trades).
    """
    n = weights.shape[0]
    value = np.empty(n)
    total = cash
    for i in range(n):
        p = prices[i]
        priced = math.isfinite(p) and p > 0
        value[i] = shares[i] * (p if priced else marks[i])
        total += value[i]
    equity = sleeve_equity * invested if per_symbol else np.full(1, total * invested)
    held = np.empty(n)
    target = np.empty(n)
    for i in range(n):
        eq = equity[0] if equity.shape[0] == 1 else equity[i]
        held[i] = value[i] / eq if eq != 0 else 0.0
        p = prices[i]
        target[i] = weights[i] if (math.isfinite(p) and p > 0) else held[i]
    final, discarded, skipped = rebalance_kernel(
        target, held, equity, per_symbol, entry_scale, dust, volume_share, adv, min_trade
    )
    out = shares.copy()
    for i in range(n):
        p = prices[i]
        if math.isfinite(p) and p > 0 and final[i] != held[i]:
            eq = equity[0] if equity.shape[0] == 1 else equity[i]
            q = final[i] * eq / p
            if lots.shape[0] and lots[i] > 0:  # toward zero, forgiving float noise
                q = _sign(q) * math.floor(abs(q) / lots[i] + 1e-9) * lots[i]
            if min_notional.shape[0] and abs(q - shares[i]) * p < min_notional[i]:
                if q != shares[i]:
                    skipped += 1
                q = shares[i]
            out[i] = q
    trades = out - shares
    return out, trades, sells_first_kernel(trades), final, equity, discarded, skipped


@numba.njit(cache=True)
def apply_fills_kernel(
    shares, avg_cost, realized, cash_flow, names, quantity, price, cost
):  # pragma: no cover - compiled
    """Apply fills in order with average-cost accounting; returns (realized PnL, positions)."""
    m = names.shape[0]
    pnl = np.zeros(m)
    position = np.empty(m)
    for k in range(m):
        i = names[k]
        q = quantity[k]
        px = price[k]
        held = shares[i]
        avg = avg_cost[i]
        after = held + q
        if held != 0 and _sign(q) != _sign(held):
            closed = min(abs(q), abs(held))
            pnl[k] = closed * _sign(held) * (px - avg)
            if after == 0:
                avg = 0.0
            elif abs(q) > abs(held):
                avg = px
        elif after != 0:
            avg = (held * avg + q * px) / after
        else:
            avg = 0.0
        shares[i] = after
        avg_cost[i] = avg
        realized[i] += pnl[k]
        cash_flow[i] += -(q * px) - cost[k]
        position[k] = after
    return pnl, position
