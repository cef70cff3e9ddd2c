"""A seeded synthetic equity market with a planted, known alpha.

Daily log returns have a market factor, sector factors, idiosyncratic noise (Student-t fat tails)
and a two-state volatility regime; volume rises with volatility and with the size of the day's
move. Each close ``t`` plants an expected return for the next holding period (open ``t+1`` to
open ``t+2``): a cross-sectional blend of short-term reversal and medium-term momentum, both
observable from past bars. The oracle IC is the cross-sectional correlation of that expected
return with the realized forward return; no model using the same bars can beat it on average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from quant_engine.data.schema import BAR_COLUMNS, BAR_SCHEMA


@dataclass(frozen=True)
class SyntheticMarketConfig:
    """Parameters of the synthetic market; the same config gives the same bars, bit for bit."""

    n_symbols: int = 50
    n_days: int = 2016  # 8 years of 252 trading days
    start: str = "2016-01-04"
    n_sectors: int = 5
    seed: int = 7
    signal_strength: float = 0.05  # planted drift, in daily vols per unit z-score of the signal
    reversal_weight: float = 1.0  # weight of -z(5-day return) in the signal
    momentum_weight: float = 0.5  # weight of +z(60-day return) in the signal
    warmup_days: int = 60  # no alpha is planted before this many days of history
    tail_dof: float = 4.0  # Student-t degrees of freedom of every shock
    daily_vol_min: float = 0.012
    daily_vol_max: float = 0.03
    turbulent_vol_multiplier: float = 2.0
    p_stay_calm: float = 0.985
    p_stay_turbulent: float = 0.95
    market_variance_share: float = 0.3
    sector_variance_share: float = 0.2
    overnight_variance_share: float = 0.25

    def __post_init__(self) -> None:
        if self.n_symbols < 2 or self.n_days <= self.warmup_days + 2:
            raise ValueError("need at least 2 symbols and more days than warmup_days + 2")
        if self.tail_dof <= 2:
            raise ValueError("tail_dof must exceed 2 for a finite variance")
        if self.market_variance_share + self.sector_variance_share >= 1:
            raise ValueError("market and sector variance shares must sum below 1")


@dataclass(frozen=True)
class SyntheticMarket:
    """Generated bars plus the ground truth a real market never tells you."""

    config: SyntheticMarketConfig
    bars: pl.DataFrame  # canonical bar schema
    expected_returns: pl.DataFrame  # symbol, timestamp, expected_return (open t+1 -> open t+2)
    sectors: dict[str, int]
    oracle_ic: float
    oracle_rank_ic: float


def trading_days(start: str, n_days: int) -> np.ndarray:
    """``n_days`` weekdays from ``start`` (inclusive), as ``datetime64[D]``."""
    first = np.datetime64(start, "D")
    days = np.arange(first, first + n_days * 2 + 7, dtype="datetime64[D]")
    return days[np.is_busday(days)][:n_days]


def _zscore_rows(x: np.ndarray) -> np.ndarray:
    """Each row (last axis) centred and divided by its standard deviation (0 where that is 0).

    The arithmetic of numpy's ``mean`` and ``std`` (a sum divided by the count), bit for bit,
    without their per-call Python layer: the generator calls this three times a day.
    """
    n = x.shape[-1]
    centered = x - np.add.reduce(x, axis=-1, keepdims=True) / n
    deviation = centered - np.add.reduce(centered, axis=-1, keepdims=True) / n
    scale = np.sqrt(np.add.reduce(np.square(deviation), axis=-1, keepdims=True) / n)
    return np.divide(centered, scale, out=np.zeros_like(centered), where=scale > 0)


def _rank_rows(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, axis=1), axis=1).astype(float)


def mean_cross_sectional_ic(pred: np.ndarray, realized: np.ndarray) -> float:
    """Mean over rows of the Pearson correlation between two (days x symbols) arrays."""
    return float(
        np.mean(np.sum(_zscore_rows(pred) * _zscore_rows(realized), axis=1) / pred.shape[1])
    )


def generate_market(config: SyntheticMarketConfig | None = None) -> SyntheticMarket:
    """Generate the market described by ``config`` (defaults: 50 symbols x 8 years)."""
    cfg = config or SyntheticMarketConfig()
    rng = np.random.default_rng(cfg.seed)
    n, t_days = cfg.n_symbols, cfg.n_days
    dof_scale = np.sqrt(cfg.tail_dof / (cfg.tail_dof - 2))

    def shocks(*shape: int) -> np.ndarray:
        return rng.standard_t(cfg.tail_dof, size=shape) / dof_scale

    sectors = rng.integers(0, cfg.n_sectors, size=n)
    base_vol = np.exp(rng.uniform(np.log(cfg.daily_vol_min), np.log(cfg.daily_vol_max), n))
    beta = rng.uniform(0.6, 1.4, n)
    sector_loading = rng.uniform(0.6, 1.4, n)
    start_price = np.exp(rng.uniform(np.log(10.0), np.log(300.0), n))
    base_volume = np.exp(rng.uniform(np.log(2e5), np.log(5e6), n))

    ms, ss = cfg.market_variance_share, cfg.sector_variance_share
    on_sd = np.sqrt(cfg.overnight_variance_share)
    id_sd = np.sqrt(1 - cfg.overnight_variance_share)
    open_, high, low, close, volume = (np.empty((t_days, n)) for _ in range(5))
    expected = np.zeros((t_days, n))
    cum_log_return = np.zeros((t_days + 1, n))
    vol_multiplier = np.ones(t_days)
    turbulent, prev_close = False, start_price
    # Each day's randomness is drawn in day order, so a longer market extends a shorter one
    # with the same seed: the first days are identical, bit for bit.
    for t in range(t_days):
        stay = cfg.p_stay_turbulent if turbulent else cfg.p_stay_calm
        turbulent = turbulent if (rng.random() < stay or t == 0) else not turbulent
        vol_multiplier[t] = cfg.turbulent_vol_multiplier if turbulent else 1.0
        # Two legs: 0 = overnight gap, 1 = intraday move.
        noise = (
            np.sqrt(ms) * beta * shocks(2, 1)
            + np.sqrt(ss) * sector_loading * shocks(2, cfg.n_sectors)[:, sectors]
            + np.sqrt(1 - ms - ss) * shocks(2, n)
        )
        wick = np.abs(rng.standard_normal((2, n)))
        sd = base_vol * vol_multiplier[t]
        drift = expected[t - 1] if t > 0 else 0.0
        o = prev_close * np.exp(on_sd * sd * noise[0])
        c = o * np.exp(drift + id_sd * sd * noise[1])
        open_[t], close[t] = o, c
        high[t] = np.maximum(o, c) * np.exp(0.5 * id_sd * sd * wick[0])
        low[t] = np.minimum(o, c) * np.exp(-0.5 * id_sd * sd * wick[1])
        volume[t] = base_volume * np.exp(
            np.log(vol_multiplier[t])
            + 0.5 * (np.abs(noise[1]) - 0.8)
            + 0.3 * rng.standard_normal(n)
        )
        cum_log_return[t + 1] = cum_log_return[t] + np.log(c / prev_close)
        prev_close = c
        if t + 1 >= cfg.warmup_days:
            r5 = cum_log_return[t + 1] - cum_log_return[t + 1 - 5]
            r60 = cum_log_return[t + 1] - cum_log_return[t + 1 - 60]
            signal = _zscore_rows(
                -cfg.reversal_weight * _zscore_rows(r5) + cfg.momentum_weight * _zscore_rows(r60)
            )
            expected[t] = cfg.signal_strength * sd * signal

    # Realized forward return of the signal made at close t: open t+1 -> open t+2.
    forward = open_[2:] / open_[1:-1] - 1.0
    scored = slice(cfg.warmup_days - 1, t_days - 2)
    oracle_ic = mean_cross_sectional_ic(expected[scored], forward[scored.start :])
    oracle_rank_ic = mean_cross_sectional_ic(
        _rank_rows(expected[scored]), _rank_rows(forward[scored.start :])
    )

    symbols = [f"S{i:03d}" for i in range(n)]
    timestamps = pl.Series(trading_days(cfg.start, t_days).astype("datetime64[us]"))
    long_ts = pl.concat([timestamps] * n).dt.replace_time_zone("UTC")
    long_symbols = pl.Series(np.repeat(symbols, t_days))
    columns = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    bars = (
        pl.DataFrame(
            {
                "symbol": long_symbols,
                "timestamp": long_ts,
                **{k: v.T.ravel() for k, v in columns.items()},
            }
        )
        .select(BAR_COLUMNS)
        .cast(BAR_SCHEMA)
    )
    expected_frame = pl.DataFrame(
        {"symbol": long_symbols, "timestamp": long_ts, "expected_return": expected.T.ravel()}
    )
    return SyntheticMarket(
        config=cfg,
        bars=bars,
        expected_returns=expected_frame,
        sectors=dict(zip(symbols, sectors.tolist(), strict=True)),
        oracle_ic=oracle_ic,
        oracle_rank_ic=oracle_rank_ic,
    )
