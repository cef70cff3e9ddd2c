"""Compiled loops of the Alpha158-class factor set (see ``features.alpha158``).

Each rolling factor at row ``t`` is computed from the bars of its own window alone: sums run
over the window afresh (centred on the row's own value, so they stay well conditioned), never
as a running total carried along the history. A row's values therefore depend on the bars in
``(t - window, t]`` only, bit for bit, however much history comes before them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = 1e-12


@numba.njit(cache=True)
def single_day_kernel(o, h, lo, c, out):  # pragma: no cover - compiled
    """The 13 k-bar and price-ratio factors of each row into ``out`` (13 x rows)."""
    for t in range(c.shape[0]):
        span = h[t] - lo[t] + EPS
        top, bottom = max(o[t], c[t]), min(o[t], c[t])
        out[0, t] = (c[t] - o[t]) / o[t]
        out[1, t] = (h[t] - lo[t]) / o[t]
        out[2, t] = (c[t] - o[t]) / span
        out[3, t] = (h[t] - top) / o[t]
        out[4, t] = (h[t] - top) / span
        out[5, t] = (bottom - lo[t]) / o[t]
        out[6, t] = (bottom - lo[t]) / span
        out[7, t] = (2 * c[t] - h[t] - lo[t]) / o[t]
        out[8, t] = (2 * c[t] - h[t] - lo[t]) / span
        out[9, t] = o[t] / c[t]
        out[10, t] = h[t] / c[t]
        out[11, t] = lo[t] / c[t]
        out[12, t] = (h[t] + lo[t] + c[t]) / 3 / c[t]


@numba.njit(cache=True, inline="always")
def _variance(s, ss, d):  # pragma: no cover - compiled
    """Sum of squared deviations from sums of (centred) values and of their squares."""
    return max(ss - s * s / d, 0.0)


@numba.njit(cache=True)
def _slide(window, leaving, entering):  # pragma: no cover - compiled
    """Replace ``leaving`` by ``entering`` in the sorted ``window``; False if not found."""
    d = window.shape[0]
    at = -1
    for i in range(d):
        if window[i] == leaving:
            at = i
            break
    if at < 0:
        return False
    while at + 1 < d and window[at + 1] < entering:
        window[at] = window[at + 1]
        at += 1
    while at > 0 and window[at - 1] > entering:
        window[at] = window[at - 1]
        at -= 1
    window[at] = entering
    return True


@numba.njit(cache=True, inline="always")
def _quantile(window, q):  # pragma: no cover - compiled
    """Linear-interpolated quantile of a sorted window (numpy's default method)."""
    pos = q * (window.shape[0] - 1)
    below = int(pos)  # pos >= 0
    if below + 1 >= window.shape[0]:
        return window[below]
    return window[below] + (window[below + 1] - window[below]) * (pos - below)


@numba.njit(cache=True, nogil=True)
def rolling_kernel(h, lo, c, v, offsets, windows, out):  # pragma: no cover - compiled
    """The 29 rolling factors of every window into ``out`` (29 x len(windows) rows x bars).

    ``offsets`` bounds each symbol's rows (sorted by time); ``windows`` must ascend. The
    first ``d`` rows of a symbol are NaN for window ``d``. Factors of window ``windows[w]``
    go to rows ``29 * w`` on, in order: ROC MA STD BETA RSQR RESI MAX MIN QTLU QTLD RANK
    RSV CORR CORD CNTP CNTN CNTD SUMP SUMN SUMD VMA VSTD WVMA VSUMP VSUMN VSUMD IMAX IMIN
    IMXD. One pass over each row's longest window serves all of them: the sums of window
    ``d`` are taken over its ``d`` most recent bars, newest first, whatever the others.
    """
    n_windows, longest = windows.shape[0], windows[-1]
    for s in range(offsets.shape[0] - 1):
        first, end = offsets[s], offsets[s + 1]
        m = end - first
        for w in range(n_windows):
            out[29 * w : 29 * (w + 1), first : first + min(windows[w], m)] = np.nan
        if m <= windows[0]:
            continue
        cs, hs, ls, vs = c[first:end], h[first:end], lo[first:end], v[first:end]
        log_volume = np.log(vs + 1)
        ret, log_volume_ret = np.full(m, np.nan), np.full(m, np.nan)
        move, vmove, abs_ret_volume = np.zeros(m), np.zeros(m), np.zeros(m)
        for i in range(1, m):
            ret[i] = cs[i] / cs[i - 1]
            log_volume_ret[i] = np.log(vs[i] / vs[i - 1] + 1)
            move[i] = cs[i] - cs[i - 1]
            vmove[i] = vs[i] - vs[i - 1]
            abs_ret_volume[i] = abs(ret[i] - 1) * vs[i]
        sorted_windows = np.empty((n_windows, longest))
        for i in range(windows[0], m):
            ct, lvt, vt = cs[i], log_volume[i], vs[i]
            rt, wt, at = ret[i], log_volume_ret[i], abs_ret_volume[i]
            sy = syy = sjy = sz = szz = syz = sv = svv = 0.0
            sr = srr = sw = sww = srw = sa = saa = up = down = vup = vdown = 0.0
            n_up = n_down = 0
            high, low = -np.inf, np.inf
            j_high = j_low = 0
            lag = 0
            for w in range(n_windows):
                d = windows[w]
                if i < d:
                    break
                for j in range(lag, d):
                    k = i - j
                    y, z, u = cs[k] - ct, log_volume[k] - lvt, vs[k] - vt
                    r, q, a = ret[k] - rt, log_volume_ret[k] - wt, abs_ret_volume[k] - at
                    sy += y
                    syy += y * y
                    sjy += j * y
                    sz += z
                    szz += z * z
                    syz += y * z
                    sv += u
                    svv += u * u
                    sr += r
                    srr += r * r
                    sw += q
                    sww += q * q
                    srw += r * q
                    sa += a
                    saa += a * a
                    dc, dv = move[k], vmove[k]
                    n_up += dc > 0
                    n_down += dc < 0
                    up += max(dc, 0.0)
                    down -= min(dc, 0.0)
                    vup += max(dv, 0.0)
                    vdown -= min(dv, 0.0)
                    # On ties the oldest bar wins, as numpy's argmax/argmin in window order.
                    if hs[k] >= high:
                        high, j_high = hs[k], j
                    if ls[k] <= low:
                        low, j_low = ls[k], j
                lag = d
                window = sorted_windows[w, :d]
                if i == d or not _slide(window, cs[i - d], ct):
                    window[:] = np.sort(cs[i - d + 1 : i + 1])
                row, f = first + i, 29 * w
                x_mean, sxx = (d - 1) / 2, d * (d * d - 1) / 12
                ssd = _variance(sy, syy, d)
                slope = ((d - 1) * sy - sjy - x_mean * sy) / sxx
                out[f, row] = cs[i - d] / ct
                out[f + 1, row] = (ct + sy / d) / ct
                out[f + 2, row] = math.sqrt(ssd / (d - 1)) / ct
                out[f + 3, row] = slope / ct
                out[f + 4, row] = slope * slope * sxx / (ssd + EPS)
                out[f + 5, row] = (-sy / d - slope * x_mean) / ct
                out[f + 6, row] = high / ct
                out[f + 7, row] = low / ct
                out[f + 8, row] = _quantile(window, 0.8) / ct
                out[f + 9, row] = _quantile(window, 0.2) / ct
                out[f + 10, row] = _rank(window, ct) / d
                out[f + 11, row] = (ct - low) / (high - low + EPS)
                out[f + 12, row] = (syz - sy * sz / d) / math.sqrt(ssd * _variance(sz, szz, d))
                out[f + 13, row] = (srw - sr * sw / d) / math.sqrt(
                    _variance(sr, srr, d) * _variance(sw, sww, d)
                )
                out[f + 14, row] = n_up / d
                out[f + 15, row] = n_down / d
                out[f + 16, row] = (n_up - n_down) / d
                moves, vmoves = up + down + EPS, vup + vdown + EPS
                out[f + 17, row] = up / moves
                out[f + 18, row] = down / moves
                out[f + 19, row] = up / moves - down / moves
                out[f + 20, row] = (vt + sv / d) / (vt + EPS)
                out[f + 21, row] = math.sqrt(_variance(sv, svv, d) / (d - 1)) / (vt + EPS)
                out[f + 22, row] = math.sqrt(_variance(sa, saa, d) / (d - 1)) / (at + sa / d + EPS)
                out[f + 23, row] = vup / vmoves
                out[f + 24, row] = vdown / vmoves
                out[f + 25, row] = vup / vmoves - vdown / vmoves
                out[f + 26, row] = (d - j_high) / d
                out[f + 27, row] = (d - j_low) / d
                out[f + 28, row] = (j_low - j_high) / d


@numba.njit(cache=True, inline="always")
def _rank(window, value):  # pragma: no cover - compiled
    """Average rank (1-based) of ``value`` in the sorted ``window``."""
    below = equal = 0
    for x in window:
        if x < value:
            below += 1
        elif x == value:
            equal += 1
    return below + (equal + 1) / 2
