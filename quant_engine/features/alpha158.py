"""An Alpha158-class factor set (after Qlib's Alpha158), in polars expressions.

13 single-day factors (k-bar shape and price ratios) plus 29 rolling factors for each window
(5/10/20/30/60 by default): 158 columns. Every rolling factor at ``t`` reads bars in
``(t - window, t]`` only. Prices are divided by the latest close so factors are scale-free.
Qlib's VWAP ratio uses the typical price ``(high + low + close) / 3``, as daily bars carry no VWAP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from quant_engine.data.schema import KEYS

EPS = 1e-12


@dataclass(frozen=True)
class Alpha158Config:
    """Rolling windows of the factor set, in bars."""

    windows: tuple[int, ...] = (5, 10, 20, 30, 60)

    def __post_init__(self) -> None:
        if not self.windows or min(self.windows) < 2:
            raise ValueError("Alpha158 windows must be at least 2 bars")


def alpha158_columns(config: Alpha158Config | None = None) -> list[str]:
    """Names of the factor columns, in output order."""
    cfg = config or Alpha158Config()
    names = [e.meta.output_name() for e in _single_day()]
    for d in cfg.windows:
        names += [e.meta.output_name() for e in _rolling(d)] + _position_names(d)
    return names


def _position_names(d: int) -> list[str]:
    return [f"IMAX{d}", f"IMIN{d}", f"IMXD{d}"]


def _single_day() -> list[pl.Expr]:
    o, h, lo, c = (pl.col(x) for x in ("open", "high", "low", "close"))
    span = h - lo + EPS
    top, bottom = pl.max_horizontal(o, c), pl.min_horizontal(o, c)
    exprs = {
        "KMID": (c - o) / o,
        "KLEN": (h - lo) / o,
        "KMID2": (c - o) / span,
        "KUP": (h - top) / o,
        "KUP2": (h - top) / span,
        "KLOW": (bottom - lo) / o,
        "KLOW2": (bottom - lo) / span,
        "KSFT": (2 * c - h - lo) / o,
        "KSFT2": (2 * c - h - lo) / span,
        "OPEN0": o / c,
        "HIGH0": h / c,
        "LOW0": lo / c,
        "VWAP0": (h + lo + c) / 3 / c,
    }
    return [e.alias(name) for name, e in exprs.items()]


def _one_day_series() -> list[pl.Expr]:
    """Series the rolling factors share, computed once (each looks back at most one bar)."""
    c, v = pl.col("close"), pl.col("volume")
    diff, vdiff = c - c.shift(1), v - v.shift(1)
    ret = c / c.shift(1)
    series = [
        (pl.col("_index") * c).alias("_index_close"),
        (v + 1).log().alias("_log_volume"),
        ret.alias("_ret"),
        (v / v.shift(1) + 1).log().alias("_log_volume_ret"),
        ((ret - 1).abs() * v).alias("_abs_ret_volume"),
        (diff > 0).cast(pl.Float64).alias("_is_up"),
        (diff < 0).cast(pl.Float64).alias("_is_down"),
        diff.clip(lower_bound=0).alias("_up"),
        (-diff).clip(lower_bound=0).alias("_down"),
        diff.abs().alias("_move"),
        vdiff.clip(lower_bound=0).alias("_vup"),
        (-vdiff).clip(lower_bound=0).alias("_vdown"),
        vdiff.abs().alias("_vmove"),
    ]
    # Per symbol: a symbol's first change must be null, not taken against another symbol.
    return [e.over("symbol") for e in series]


def _rolling(d: int) -> list[pl.Expr]:
    """The rolling factors for window ``d`` except IMAX/IMIN/IMXD (computed in numpy).

    Each needs at most ``d + 1`` rows (a window of ``d`` one-day changes).
    """
    c, v, col = pl.col("close"), pl.col("volume"), pl.col
    mean = c.rolling_mean(d)
    # Least-squares line through the last d closes against x = 0..d-1.
    x_mean, sxx = (d - 1) / 2, d * (d * d - 1) / 12
    index = col("_index")
    sxy = (
        col("_index_close").rolling_sum(d) - (index - d + 1) * c.rolling_sum(d) - x_mean * d * mean
    )
    slope = sxy / sxx
    syy = c.rolling_var(d) * (d - 1)
    highest, lowest = col("high").rolling_max(d), col("low").rolling_min(d)
    cntp, cntn = col("_is_up").rolling_mean(d), col("_is_down").rolling_mean(d)
    moves, vmoves = col("_move").rolling_sum(d) + EPS, col("_vmove").rolling_sum(d) + EPS
    sump, sumn = col("_up").rolling_sum(d) / moves, col("_down").rolling_sum(d) / moves
    vsump, vsumn = col("_vup").rolling_sum(d) / vmoves, col("_vdown").rolling_sum(d) / vmoves
    abs_ret_volume = col("_abs_ret_volume")
    exprs = {
        "ROC": c.shift(d) / c,
        "MA": mean / c,
        "STD": c.rolling_std(d) / c,
        "BETA": slope / c,
        "RSQR": slope * slope * sxx / (syy + EPS),
        "RESI": (c - mean - slope * x_mean) / c,
        "MAX": highest / c,
        "MIN": lowest / c,
        "QTLU": c.rolling_quantile(0.8, window_size=d, interpolation="linear") / c,
        "QTLD": c.rolling_quantile(0.2, window_size=d, interpolation="linear") / c,
        "RANK": c.rolling_rank(d) / d,
        "RSV": (c - lowest) / (highest - lowest + EPS),
        "CORR": pl.rolling_corr(c, col("_log_volume"), window_size=d),
        "CORD": pl.rolling_corr(col("_ret"), col("_log_volume_ret"), window_size=d),
        "CNTP": cntp,
        "CNTN": cntn,
        "CNTD": cntp - cntn,
        "SUMP": sump,
        "SUMN": sumn,
        "SUMD": sump - sumn,
        "VMA": v.rolling_mean(d) / (v + EPS),
        "VSTD": v.rolling_std(d) / (v + EPS),
        "WVMA": abs_ret_volume.rolling_std(d) / (abs_ret_volume.rolling_mean(d) + EPS),
        "VSUMP": vsump,
        "VSUMN": vsumn,
        "VSUMD": vsump - vsumn,
    }
    # Windows run per symbol, so no value depends (even by round-off) on another symbol's bars;
    # the first d rows of each symbol are null for every factor of window d alike.
    warm = pl.col("_index") >= d
    return [pl.when(warm).then(e.over("symbol")).alias(f"{name}{d}") for name, e in exprs.items()]


def _rolling_arg(values: np.ndarray, start: np.ndarray, d: int, pick, chunk: int = 200_000):
    """1-based position of the window's max/min (``pick`` = argmax/argmin) ending at each row.

    ``start`` holds each row's position within its symbol; as for the other rolling factors,
    the first ``d`` rows of each symbol are NaN.
    """
    out = np.full(values.shape[0], np.nan)
    if values.shape[0] >= d:
        windows = sliding_window_view(values, d)
        for lo in range(0, windows.shape[0], chunk):
            block = windows[lo : lo + chunk]
            out[d - 1 + lo : d - 1 + lo + block.shape[0]] = pick(block, axis=1) + 1
    out[start < d] = np.nan
    return out


def build_alpha158(
    bars: pl.DataFrame | pl.LazyFrame, config: Alpha158Config | None = None
) -> pl.DataFrame:
    """The factor set for canonical bars: symbol, timestamp and the 158 factor columns."""
    cfg = config or Alpha158Config()
    frame = (
        bars.lazy()
        .sort(KEYS)
        .with_columns(pl.int_range(pl.len()).over("symbol").cast(pl.Float64).alias("_index"))
        .with_columns(_one_day_series())
        .with_columns(_single_day() + [e for d in cfg.windows for e in _rolling(d)])
        .collect()
    )
    start = frame["_index"].to_numpy()
    high, low = frame["high"].to_numpy(), frame["low"].to_numpy()
    positions = {}
    for d in cfg.windows:
        imax = _rolling_arg(high, start, d, np.argmax)
        imin = _rolling_arg(low, start, d, np.argmin)
        names = _position_names(d)
        positions |= dict(zip(names, (imax / d, imin / d, (imax - imin) / d), strict=True))
    frame = frame.with_columns(pl.Series(name, values) for name, values in positions.items())
    return frame.select(KEYS + [pl.col(c).fill_nan(None) for c in alpha158_columns(cfg)])
