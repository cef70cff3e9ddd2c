"""Compiled rules of the strategies, shared by their per-bar and whole-panel forms.

Every rule keeps its state per symbol and advances it only on that symbol's own bars: a missing
bar (NaN) leaves the state as it was, so a gap, a late listing or a delisting neither poisons a
window nor shifts it. The per-bar step (``SmaCrossover.on_bar``) and the panel kernel
(``SmaCrossover.scores``) call the same step function, so the two agree bit for bit.

The book's arithmetic (values, marks, exposure, fill sums) is here too, with the simulator's
compiled bar loop (:func:`bar_loop_kernel`) that strings it together.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from quant_engine.portfolio.kernels import apply_fills_kernel, plan_kernel

TIE_RTOL = 1e-12
"""Averages closer than this (relative) count as equal. Prices quoted in cents that average
exactly the same differ by float rounding only (~1e-15); two different averages of such prices
differ by far more (0.01 / (fast x slow) in price), so the rule decides real ties as ties."""


@numba.njit(cache=True)
def positions_kernel(entries, exits):  # pragma: no cover - compiled
    """1 from an entry until the next exit, else 0, per column (an entry wins a tie)."""
    n_rows, n_cols = entries.shape
    out = np.empty((n_rows, n_cols))
    state = np.zeros(n_cols, dtype=np.bool_)
    for t in range(n_rows):
        entry, exit_, row = entries[t], exits[t], out[t]
        for j in range(n_cols):  # bit operations on the flags, not branches: the loop vectorizes
            s = entry[j] | (state[j] & (exit_[j] ^ True))
            state[j] = s
            row[j] = s
    return out


@numba.njit(cache=True, inline="always")
def _sma_update(ring, j, c, n, pos, fast_sum, slow_sum, fast, slow):  # pragma: no cover
    """Put close ``c`` of symbol ``j`` (its ``n``-th, at ring row ``pos``) into its windows.

    The sums run between exact recomputations from the window every ``slow`` bars, so
    rounding never builds up beyond ~``2 * slow`` float steps (about 1e-14 relative).
    """
    if n >= slow:
        slow_sum -= ring[pos, j]
    if n >= fast:
        back = pos - fast
        fast_sum -= ring[back + slow if back < 0 else back, j]
    ring[pos, j] = c
    fast_sum += c
    slow_sum += c
    if pos == slow - 1:  # the window is in time order: recompute both sums exactly
        older = 0.0
        for k in range(slow - fast):
            older += ring[k, j]
        recent = 0.0
        for k in range(slow - fast, slow):
            recent += ring[k, j]
        fast_sum = recent
        slow_sum = older + recent
    return fast_sum, slow_sum


@numba.njit(cache=True, inline="always")
def _sma_sides(fast_sum, slow_sum, fast, slow):  # pragma: no cover - compiled
    """(above, below) of the fast average against the slow one; within ``TIE_RTOL``: neither."""
    f = fast_sum / fast
    s = slow_sum / slow
    tie = abs(f - s) <= TIE_RTOL * max(abs(f), abs(s))
    return f > s and not tie, f < s and not tie


@numba.njit(cache=True)
def sma_step_kernel(
    ring, seen, sums, prev_above, prev_below, state, close, fast, slow
):  # pragma: no cover - compiled
    """Advance each symbol that has a close in this row; update its held ``state``.

    An entry (state 1): the fast SMA is above the slow one and was at or below it on the
    symbol's previous bar; an exit (state 0): below, and was at or above. ``sums`` holds the
    running fast and slow sums (2 x symbols); ``state`` is NaN until a symbol has ``slow``
    bars. Returns whether any symbol has.
    """
    ready = False
    for j in range(close.shape[0]):
        c = close[j]
        n = seen[j]
        if math.isfinite(c):
            sums[0, j], sums[1, j] = _sma_update(
                ring, j, c, n, n % slow, sums[0, j], sums[1, j], fast, slow
            )
            n += 1
            seen[j] = n
            if n >= slow:
                above, below = _sma_sides(sums[0, j], sums[1, j], fast, slow)
                if n == slow:
                    state[j] = 0.0
                elif above and not prev_above[j]:
                    state[j] = 1.0
                elif below and not prev_below[j]:
                    state[j] = 0.0
                prev_above[j] = above
                prev_below[j] = below
        ready = ready or n >= slow
    return ready


@numba.njit(cache=True)
def sma_crossings_kernel(close, fast, slow):  # pragma: no cover - compiled
    """Entries, exits and readiness (the symbol has ``slow`` bars) of a close matrix.

    Each symbol's own bars are packed to the top of a dense matrix, where its ``n``-th bar is
    row ``n`` for every symbol alike; the rows then run the arithmetic of :func:`_sma_update`
    on all symbols at once (no branch per symbol, so it vectorizes) and are put back.
    """
    n_rows, n_cols = close.shape
    count = np.zeros(n_cols, dtype=np.int64)
    dense = close
    complete = True
    for t in range(n_rows):
        for j in range(n_cols):
            if not math.isfinite(close[t, j]):
                complete = False
    if not complete:
        dense = np.full((n_rows, n_cols), np.nan)
        for t in range(n_rows):
            for j in range(n_cols):
                c = close[t, j]
                if math.isfinite(c):
                    dense[count[j], j] = c
                    count[j] += 1
    fast_sum = np.zeros(n_cols)
    slow_sum = np.zeros(n_cols)
    above = np.zeros(n_cols, dtype=np.bool_)
    below = np.zeros(n_cols, dtype=np.bool_)
    d_entries = np.zeros((n_rows, n_cols), dtype=np.bool_)
    d_exits = np.zeros((n_rows, n_cols), dtype=np.bool_)
    for n in range(n_rows):
        for j in range(n_cols):
            c = dense[n, j]
            s_sum = slow_sum[j] - dense[n - slow, j] if n >= slow else slow_sum[j]
            f_sum = fast_sum[j] - dense[n - fast, j] if n >= fast else fast_sum[j]
            fast_sum[j] = f_sum + c
            slow_sum[j] = s_sum + c
        if n % slow == slow - 1:  # the window is in time order: recompute both sums exactly
            for j in range(n_cols):
                older = 0.0
                for k in range(n - slow + 1, n - fast + 1):
                    older += dense[k, j]
                recent = 0.0
                for k in range(n - fast + 1, n + 1):
                    recent += dense[k, j]
                fast_sum[j] = recent
                slow_sum[j] = older + recent
        if n >= slow - 1:
            for j in range(n_cols):
                f = fast_sum[j] / fast
                s = slow_sum[j] / slow
                tie = abs(f - s) <= TIE_RTOL * max(abs(f), abs(s))
                up = (f > s) & ~tie
                down = (f < s) & ~tie
                if n >= slow:
                    d_entries[n, j] = up & ~above[j]
                    d_exits[n, j] = down & ~below[j]
                above[j] = up
                below[j] = down
    if complete:
        ready = np.zeros((n_rows, n_cols), dtype=np.bool_)
        ready[slow - 1 :] = True
        return d_entries, d_exits, ready
    entries = np.zeros((n_rows, n_cols), dtype=np.bool_)
    exits = np.zeros((n_rows, n_cols), dtype=np.bool_)
    ready = np.zeros((n_rows, n_cols), dtype=np.bool_)
    seen = np.zeros(n_cols, dtype=np.int64)
    for t in range(n_rows):
        for j in range(n_cols):
            if math.isfinite(close[t, j]):
                n = seen[j]
                entries[t, j] = d_entries[n, j]
                exits[t, j] = d_exits[n, j]
                seen[j] = n + 1
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


@numba.njit(cache=True)
def book_value(shares, prices):  # pragma: no cover - compiled
    """Value of ``shares`` at ``prices`` (a dot product without the call overhead of one)."""
    total = 0.0
    for j in range(shares.shape[0]):
        total += shares[j] * prices[j]
    return total


@numba.njit(cache=True)
def marked_value(shares, prices, mark):  # pragma: no cover - compiled
    """Value of ``shares`` at ``prices``, a name without one (NaN) at its ``mark``."""
    total = 0.0
    for j in range(shares.shape[0]):
        p = prices[j]
        total += shares[j] * (p if math.isfinite(p) else mark[j])
    return total


@numba.njit(cache=True)
def update_marks(mark, close):  # pragma: no cover - compiled
    """Each name's last known price: its close where it has one."""
    for j in range(mark.shape[0]):
        c = close[j]
        if math.isfinite(c):
            mark[j] = c


@numba.njit(cache=True)
def exposure(shares, mark):  # pragma: no cover - compiled
    """(gross exposure at ``mark``, number of names held) of a book."""
    gross = 0.0
    held = 0
    for j in range(shares.shape[0]):
        if shares[j] != 0.0:
            gross += abs(shares[j]) * mark[j]
            held += 1
    return gross, held


@numba.njit(cache=True)
def same_sides(weights, shares):  # pragma: no cover - compiled
    """Whether every name's target weight has the sign of its position (flat: zero; a NaN
    weight never has)."""
    for j in range(weights.shape[0]):
        w, s = weights[j], shares[j]
        if w != w or (w > 0) != (s > 0) or (w < 0) != (s < 0):
            return False
    return True


@numba.njit(cache=True)
def fill_sums(quantity, price, cost):  # pragma: no cover - compiled
    """(cash paid for the shares, traded notional, costs) of one fill event, summed in order."""
    net = 0.0
    traded = 0.0
    paid = 0.0
    for k in range(quantity.shape[0]):
        notional = quantity[k] * price[k]
        net += notional
        traded += abs(notional)
        paid += cost[k]
    return net, traded, paid


@numba.njit(cache=True)
def cap_weights_kernel(weights, sleeves, kelly_fraction, max_gross):  # pragma: no cover
    """``weights`` scaled by the Kelly fraction, then down to the gross exposure cap
    ``max_gross`` (NaN: none): a weight of 1 stands for the whole book, or with ``sleeves``
    (each per-symbol sleeve's equity; empty for book weights) for its sleeve's share of them."""
    w = weights * kelly_fraction if kelly_fraction != 1.0 else weights
    if max_gross == max_gross:
        gross = 0.0
        if sleeves.shape[0] > 0:
            total = 0.0
            for j in range(sleeves.shape[0]):
                total += sleeves[j]
            for j in range(w.shape[0]):
                gross += abs(w[j]) * (sleeves[j] / total)
        else:
            for j in range(w.shape[0]):
                gross += abs(w[j])
        if gross > max_gross:
            w = w * (max_gross / gross)
    return w


@numba.njit(cache=True)
def turnover_scale_kernel(quantity, price, equity, cap):  # pragma: no cover - compiled
    """Fraction of a rebalance trading ``quantity`` at ``price`` that may trade under the
    turnover cap ``cap`` (largest traded notional, as a fraction of ``equity``; NaN: none)."""
    traded = 0.0
    for k in range(quantity.shape[0]):
        traded += abs(quantity[k] * price[k])
    if cap != cap or equity <= 0 or traded <= 0:
        return 1.0
    return min(1.0, cap * equity / traded)


@numba.njit(cache=True, inline="always")
def _stale_kernel(shares, prices):  # pragma: no cover - compiled
    """Whether a held name has no price here (``mark: exact`` does not re-mark then)."""
    stale = False
    for j in range(shares.shape[0]):
        if shares[j] != 0.0 and not math.isfinite(prices[j]):
            stale = True
            break
    return stale


@numba.njit(cache=True)
def _execute_kernel(
    w, prices, i, decided, why, book, mark, state, counts, fills, fill_ints, rules, lots
):  # pragma: no cover - compiled
    """Fill target weights ``w`` decided at bar ``decided`` at ``prices`` (bar ``i``; ``why``
    1: the drawdown stop): the decision core's plan, its linear costs, the book's average-cost
    accounting; returns (turnover, cost) as fractions of equity."""
    shares, avg_cost, realized, cash_flow = book[0], book[1], book[2], book[3]
    capital, per_symbol, rate = rules[0], rules[1] != 0.0, rules[2]
    n = shares.shape[0]
    if per_symbol and same_sides(w, shares):
        return 0.0, 0.0
    marks = np.empty(n)
    for j in range(n):
        p = prices[j]
        marks[j] = p if math.isfinite(p) else mark[j]
    sleeves = np.empty(0)
    if per_symbol:
        sleeves = capital / n + cash_flow + shares * marks
    _, trades, order, _, _, _, _ = plan_kernel(
        w,
        shares,
        state[0],
        sleeves,
        prices,
        marks,
        per_symbol,
        rules[3],  # entry scale
        rules[4],  # dust
        np.nan,  # no size risk
        np.full(n, np.nan),
        rules[5],  # minimum trade
        rules[6],  # invested share
        lots,
        np.empty(0),
    )
    m = order.shape[0]
    if m == 0:
        return 0.0, 0.0
    equity = state[0] + book_value(shares, marks)
    quantity = trades[order]
    price = prices[order]
    if rules[12] == rules[12]:  # the turnover cap
        quantity *= turnover_scale_kernel(quantity, price, equity, rules[12])
    cost = np.abs(quantity * price) * rate
    pnl, position = apply_fills_kernel(
        shares, avg_cost, realized, cash_flow, order, quantity, price, cost
    )
    net, traded, paid = fill_sums(quantity, price, cost)
    state[0] -= net + paid
    state[1] += paid
    k0 = counts[0]
    for k in range(m):
        state[3] += pnl[k]
        row = fills[k0 + k]
        row[0], row[1], row[2], row[3] = quantity[k], price[k], cost[k], pnl[k]
        row[4], row[5] = position[k], state[3]
        ints = fill_ints[k0 + k]
        ints[0], ints[1], ints[2], ints[3], ints[4] = i, decided, order[k], counts[1], why
    counts[0] = k0 + m
    counts[1] += 1
    return traded / equity, paid / equity


@numba.njit(cache=True, inline="always")
def _fill_pending(
    weights,
    active,
    flat,
    prices,
    i,
    book,
    mark,
    state,
    flags,
    counts,
    fills,
    fill_ints,
    rules,
    lots,
):  # pragma: no cover - compiled
    """Fill the pending decision ``flags[1]`` (a row of ``weights``, or -2: the drawdown
    stop's liquidation to ``flat``) at ``prices`` of bar ``i``, noting the first active fill
    bar in ``flags[3]``; returns (turnover, cost) as :func:`_execute_kernel` does."""
    p = flags[1]
    if flags[3] < 0 and p >= 0 and active[p]:
        flags[3] = i
    w = weights[p] if p >= 0 else flat
    filled = _execute_kernel(
        w, prices, i, flags[2], p < 0, book, mark, state, counts, fills, fill_ints, rules, lots
    )
    flags[1] = -1
    return filled


@numba.njit(cache=True)
def bar_loop_kernel(
    open_,
    close,
    weights,
    decision,
    active,
    start,
    stop,
    book,
    mark,
    state,
    flags,
    counts,
    fills,
    fill_ints,
    out,
    out_held,
    rules,
    lots,
):  # pragma: no cover - compiled
    """The simulator's bar loop (``Simulator._run``) for a weight strategy whose signals are
    known up front, over rows ``start`` to ``stop``; returns the next row to run.

    ``decision[t]`` is the row of ``weights`` decided at bar ``t``'s close (-1: none; the row
    is capped there, in place, by :func:`cap_weights_kernel` from the book at that close) and
    ``active`` whether that decision has an eligible name. ``book`` stacks shares, average
    cost, realized PnL and cash flow; ``state`` holds cash, costs paid, the equity peak and the
    cumulative realized PnL; ``flags`` whether the run halted, the pending decision (-1: none,
    -2: the drawdown stop's liquidation), the bar it was decided at, the first active fill bar
    and the halt bar. Fills go to ``fills`` (quantity, price, cost, realized PnL, position,
    cumulative realized PnL) and ``fill_ints`` (bar, decided bar, symbol, event, 1 for the
    drawdown stop's liquidation) from
    ``counts[0]`` on; the loop returns early when they have room for fewer than one event
    more. ``out`` gets the per-bar columns (equity at the open or fill, at the close, cash,
    gross exposure, turnover, cost), ``out_held`` the names held. ``rules``: capital, per
    symbol (1/0), cost rate, entry scale, dust, minimum trade, invested share, same close
    (1/0), exact marks (1/0), drawdown stop (NaN: none), Kelly fraction, gross exposure cap
    (NaN: none), turnover cap (NaN: none). numba's cache does not see a change
    to ``portfolio/kernels.py``, whose planner and fills this compiles in (README, Start-up).
    """
    n = open_.shape[1]
    same_close = rules[7] != 0.0
    exact = rules[8] != 0.0
    stop_at = rules[9]
    capital, per_symbol, kelly, max_gross = rules[0], rules[1] != 0.0, rules[10], rules[11]
    shares = book[0]
    flat = np.zeros(n)
    capacity = fills.shape[0]
    for i in range(start, stop):
        if counts[0] + n > capacity:
            return i
        o = open_[i]
        c = close[i]
        equity_open = state[0] + marked_value(shares, o, mark)
        if exact and i > 0 and _stale_kernel(shares, o):
            equity_open = out[i - 1, 0]
        turnover = 0.0
        paid = 0.0
        if flags[1] != -1 and not same_close:
            turnover, paid = _fill_pending(
                weights, active, flat, o, i, book, mark, state, flags, counts, fills, fill_ints,
                rules, lots,
            )  # fmt: skip
        update_marks(mark, c)
        if flags[0] == 0 and decision[i] >= 0:
            d = decision[i]
            if kelly != 1.0 or max_gross == max_gross:
                sleeves = flat[:0]
                if per_symbol and max_gross == max_gross:
                    sleeves = capital / n + book[3] + shares * mark
                weights[d] = cap_weights_kernel(weights[d], sleeves, kelly, max_gross)
            flags[1] = d
            flags[2] = i
        equity_close = state[0] + book_value(shares, mark)
        if exact and i > 0 and _stale_kernel(shares, c):
            equity_close = out[i - 1, 1]
        at_fill = equity_open
        if same_close:
            at_fill = equity_close
            if flags[1] != -1:
                filled = _fill_pending(
                    weights, active, flat, c, i, book, mark, state, flags, counts, fills,
                    fill_ints, rules, lots,
                )  # fmt: skip
                turnover += filled[0]
                paid += filled[1]
                if not (exact and _stale_kernel(shares, c)):
                    equity_close = state[0] + book_value(shares, mark)
        if equity_close > state[2]:
            state[2] = equity_close
        if flags[0] == 0 and equity_close / state[2] - 1.0 <= -stop_at:  # NaN: never
            flags[0] = 1
            flags[1] = -2
            flags[2] = i
            flags[4] = i
        gross, held = exposure(shares, mark)
        row = out[i]
        row[0], row[1], row[2], row[3], row[4], row[5] = (
            at_fill,
            equity_close,
            state[0],
            gross,
            turnover,
            paid,
        )
        out_held[i] = held
    return stop
