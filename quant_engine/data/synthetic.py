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


def cross_sectional_ics(pred: np.ndarray, realized: np.ndarray) -> np.ndarray:
    """Per row, the Pearson correlation between two (days x symbols) arrays (rows are
    independent: a block of rows gives the same values as the whole array)."""
    return np.sum(_zscore_rows(pred) * _zscore_rows(realized), axis=1) / pred.shape[1]


def mean_cross_sectional_ic(pred: np.ndarray, realized: np.ndarray) -> float:
    """Mean over rows of the Pearson correlation between two (days x symbols) arrays."""
    return float(np.mean(cross_sectional_ics(pred, realized)))


REVERSAL_DAYS, MOMENTUM_DAYS = 5, 60  # the planted signal's return windows
BAR_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class GeneratorState:
    """Where the generator stands after ``day`` sessions: all the next session draws on.

    ``cum_tail`` holds the cumulative log returns after days ``day - MOMENTUM_DAYS + 1`` to
    ``day`` (zeros before the first day), ``drift`` the expected return planted at the last
    close, ``last_expected`` and ``last_open`` the last two days' expected returns and the
    last day's opens (for the oracle IC of those days once their forward returns exist).
    """

    day: int
    rng: dict
    turbulent: bool
    prev_close: np.ndarray
    cum_tail: np.ndarray
    drift: np.ndarray
    last_expected: np.ndarray
    last_open: np.ndarray
    sectors: np.ndarray
    base_vol: np.ndarray
    beta: np.ndarray
    sector_loading: np.ndarray
    base_volume: np.ndarray


def initial_state(config: SyntheticMarketConfig) -> GeneratorState:
    """The state before the first session: the symbols' parameters drawn from the seed."""
    rng = np.random.default_rng(config.seed)
    n = config.n_symbols
    sectors = rng.integers(0, config.n_sectors, size=n)
    base_vol = np.exp(rng.uniform(np.log(config.daily_vol_min), np.log(config.daily_vol_max), n))
    beta = rng.uniform(0.6, 1.4, n)
    sector_loading = rng.uniform(0.6, 1.4, n)
    start_price = np.exp(rng.uniform(np.log(10.0), np.log(300.0), n))
    base_volume = np.exp(rng.uniform(np.log(2e5), np.log(5e6), n))
    return GeneratorState(
        day=0,
        rng=rng.bit_generator.state,
        turbulent=False,
        prev_close=start_price,
        cum_tail=np.zeros((MOMENTUM_DAYS, n)),
        drift=np.zeros(n),
        last_expected=np.zeros((2, n)),
        last_open=np.zeros((1, n)),
        sectors=sectors,
        base_vol=base_vol,
        beta=beta,
        sector_loading=sector_loading,
        base_volume=base_volume,
    )


def simulate(
    config: SyntheticMarketConfig, state: GeneratorState, n_days: int
) -> tuple[dict[str, np.ndarray], GeneratorState]:
    """The next ``n_days`` sessions after ``state``: (days x symbols) arrays of each bar field
    and ``expected`` (the return planted at each close), and the state after them.

    Each day's randomness is drawn in day order, so sessions generated in several calls equal
    those of one call, bit for bit (and a longer market extends a shorter one).
    """
    cfg, n = config, config.n_symbols
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng
    dof_scale = np.sqrt(cfg.tail_dof / (cfg.tail_dof - 2))

    def shocks(*shape: int) -> np.ndarray:
        return rng.standard_t(cfg.tail_dof, size=shape) / dof_scale

    ms, ss = cfg.market_variance_share, cfg.sector_variance_share
    on_sd = np.sqrt(cfg.overnight_variance_share)
    id_sd = np.sqrt(1 - cfg.overnight_variance_share)
    open_, high, low, close, volume = (np.empty((n_days, n)) for _ in range(5))
    expected = np.zeros((n_days, n))
    # Row k of cum holds the cumulative log return after day state.day - MOMENTUM_DAYS + k.
    cum = np.concatenate([state.cum_tail, np.zeros((n_days, n))])
    turbulent, prev_close, drift = state.turbulent, state.prev_close, state.drift
    for k in range(n_days):
        t = state.day + k
        stay = cfg.p_stay_turbulent if turbulent else cfg.p_stay_calm
        turbulent = turbulent if (rng.random() < stay or t == 0) else not turbulent
        vol_multiplier = cfg.turbulent_vol_multiplier if turbulent else 1.0
        # Two legs: 0 = overnight gap, 1 = intraday move.
        noise = (
            np.sqrt(ms) * state.beta * shocks(2, 1)
            + np.sqrt(ss) * state.sector_loading * shocks(2, cfg.n_sectors)[:, state.sectors]
            + np.sqrt(1 - ms - ss) * shocks(2, n)
        )
        wick = np.abs(rng.standard_normal((2, n)))
        sd = state.base_vol * vol_multiplier
        o = prev_close * np.exp(on_sd * sd * noise[0])
        c = o * np.exp(drift + id_sd * sd * noise[1])
        open_[k], close[k] = o, c
        high[k] = np.maximum(o, c) * np.exp(0.5 * id_sd * sd * wick[0])
        low[k] = np.minimum(o, c) * np.exp(-0.5 * id_sd * sd * wick[1])
        volume[k] = state.base_volume * np.exp(
            np.log(vol_multiplier) + 0.5 * (np.abs(noise[1]) - 0.8) + 0.3 * rng.standard_normal(n)
        )
        now = MOMENTUM_DAYS + k  # row of cum after day t + 1
        cum[now] = cum[now - 1] + np.log(c / prev_close)
        prev_close = c
        if t + 1 >= cfg.warmup_days:
            r5 = cum[now] - cum[now - REVERSAL_DAYS]
            r60 = cum[now] - cum[now - MOMENTUM_DAYS]
            signal = _zscore_rows(
                -cfg.reversal_weight * _zscore_rows(r5) + cfg.momentum_weight * _zscore_rows(r60)
            )
            expected[k] = cfg.signal_strength * sd * signal
        drift = expected[k]
    arrays = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    after = GeneratorState(
        day=state.day + n_days,
        rng=rng.bit_generator.state,
        turbulent=turbulent,
        prev_close=prev_close,
        cum_tail=cum[-MOMENTUM_DAYS:],
        drift=drift,
        last_expected=np.concatenate([state.last_expected, expected])[-2:],
        last_open=np.concatenate([state.last_open, open_])[-1:],
        sectors=state.sectors,
        base_vol=state.base_vol,
        beta=state.beta,
        sector_loading=state.sector_loading,
        base_volume=state.base_volume,
    )
    return {**arrays, "expected": expected}, after


def oracle_ics(state: GeneratorState, expected: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """The oracle IC of each day whose forward return (open ``t+1`` to open ``t+2``) the
    sessions after ``state`` (their ``expected`` and ``open_`` arrays) complete: days
    ``state.day - 2`` to ``state.day + len(open_) - 3``, from the first day on."""
    m = len(open_)
    skip = max(0, 2 - state.day)  # the tail's rows before the first day
    pred = np.concatenate([state.last_expected, expected])[skip:m]
    opens = np.concatenate([state.last_open, open_])
    return cross_sectional_ics(pred, opens[skip + 1 : m + 1] / opens[skip:m] - 1.0)


def bar_frame(symbols: list[str], days: np.ndarray, arrays: dict[str, np.ndarray]) -> pl.DataFrame:
    """Bars in the canonical schema from (days x symbols) arrays of each bar field, ordered by
    symbol then day."""
    timestamps = pl.Series(days.astype("datetime64[us]"))
    return (
        pl.DataFrame(
            {
                "symbol": pl.Series(np.repeat(symbols, len(days))),
                "timestamp": pl.concat([timestamps] * len(symbols)).dt.replace_time_zone("UTC"),
                **{k: arrays[k].T.ravel() for k in BAR_FIELDS},
            }
        )
        .select(BAR_COLUMNS)
        .cast(BAR_SCHEMA)
    )


def symbol_names(n_symbols: int) -> list[str]:
    """The synthetic market's symbols, ``S000`` on."""
    return [f"S{i:03d}" for i in range(n_symbols)]


def generate_market(config: SyntheticMarketConfig | None = None) -> SyntheticMarket:
    """Generate the market described by ``config`` (defaults: 50 symbols x 8 years)."""
    cfg = config or SyntheticMarketConfig()
    t_days = cfg.n_days
    state = initial_state(cfg)
    arrays, _ = simulate(cfg, state, t_days)
    open_, expected = arrays["open"], arrays["expected"]

    # Realized forward return of the signal made at close t: open t+1 -> open t+2.
    forward = open_[2:] / open_[1:-1] - 1.0
    scored = slice(cfg.warmup_days - 1, t_days - 2)
    oracle_ic = mean_cross_sectional_ic(expected[scored], forward[scored.start :])
    oracle_rank_ic = mean_cross_sectional_ic(
        _rank_rows(expected[scored]), _rank_rows(forward[scored.start :])
    )

    symbols = symbol_names(cfg.n_symbols)
    days = trading_days(cfg.start, t_days)
    bars = bar_frame(symbols, days, arrays)
    expected_frame = pl.DataFrame(
        {
            "symbol": bars["symbol"],
            "timestamp": bars["timestamp"],
            "expected_return": expected.T.ravel(),
        }
    )
    return SyntheticMarket(
        config=cfg,
        bars=bars,
        expected_returns=expected_frame,
        sectors=dict(zip(symbols, state.sectors.tolist(), strict=True)),
        oracle_ic=oracle_ic,
        oracle_rank_ic=oracle_rank_ic,
    )
