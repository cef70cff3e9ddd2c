"""Entry filters: accept or reject a proposed entry, with a human-readable reason.

Every filter is a frozen dataclass (its fields are its configuration) with one method,
``check(ctx, candidate) -> FilterDecision``. Filters read the market only through the
:class:`StrategyContext`, which has already dropped everything after the decision time, so a
past decision never changes when future bars arrive. Filters that need more history than there
is reject the entry, saying so: no data is no evidence that entering is safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from quant_engine.strategy.context import EntryCandidate, StrategyContext


@dataclass(frozen=True)
class FilterDecision:
    """Whether an entry may go ahead; ``reason`` says why not (empty when accepted)."""

    accepted: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.accepted


ACCEPT = FilterDecision(True)


def reject(reason: str) -> FilterDecision:
    return FilterDecision(False, reason)


@runtime_checkable
class EntryFilter(Protocol):
    """Decides on one entry candidate from what is known at the context's timestamp."""

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision: ...


def _pct(value: float) -> str:
    return f"{value:.2%}"


def _need_history(ctx: StrategyContext, symbol: str, rows: int) -> FilterDecision | None:
    have = ctx.history(symbol).height
    if have < rows:
        return reject(f"need {rows} bars of {symbol}, have {have}")
    return None


def _check_lookback(owner: str, lookback: int, minimum: int = 1) -> None:
    if lookback < minimum:
        raise ValueError(f"{owner}: lookback {lookback} must be >= {minimum}")


@dataclass(frozen=True)
class RegimeFilter:
    """Long entries only in ``long_regimes``, shorts only in ``short_regimes``.

    The regime is the latest value of ``regime_column`` when set (a label computed upstream),
    else a trend label: ``up`` when the close is more than ``band`` above its ``lookback``-bar
    average, ``down`` when more than ``band`` below, ``range`` in between.
    """

    lookback: int = 50
    band: float = 0.0
    regime_column: str | None = None
    long_regimes: tuple[str, ...] = ("up",)
    short_regimes: tuple[str, ...] = ("down",)

    def __post_init__(self) -> None:
        _check_lookback("RegimeFilter", self.lookback)
        if self.band < 0:
            raise ValueError(f"RegimeFilter: band {self.band} must be >= 0")

    def regime(self, ctx: StrategyContext, symbol: str) -> str | None:
        """The regime of ``symbol`` at the context's timestamp (None if unknown)."""
        history = ctx.history(symbol)
        if self.regime_column is not None:
            if self.regime_column not in history.columns:
                raise ValueError(f"RegimeFilter: bars have no column {self.regime_column!r}")
            labels = history[self.regime_column].drop_nulls()
            return None if labels.is_empty() else str(labels[-1])
        if history.height < self.lookback:
            return None
        closes = history["close"].to_numpy()[-self.lookback :]
        relative = closes[-1] / closes.mean() - 1.0
        if relative > self.band:
            return "up"
        return "down" if relative < -self.band else "range"

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        regime = self.regime(ctx, candidate.symbol)
        if regime is None:
            return reject(f"regime of {candidate.symbol} unknown at {ctx.timestamp}")
        allowed = self.long_regimes if candidate.direction > 0 else self.short_regimes
        if regime in allowed:
            return ACCEPT
        return reject(
            f"regime {regime!r} of {candidate.symbol} allows no {candidate.side} entry "
            f"(allowed: {', '.join(allowed) or 'none'})"
        )


@dataclass(frozen=True)
class VolatilityFilter:
    """Only enter when realized volatility (std of the last ``lookback`` log returns) lies in
    [``min_volatility``, ``max_volatility``]."""

    lookback: int = 20
    min_volatility: float = 0.0
    max_volatility: float = math.inf

    def __post_init__(self) -> None:
        _check_lookback("VolatilityFilter", self.lookback, 2)
        if not 0 <= self.min_volatility <= self.max_volatility:
            raise ValueError("VolatilityFilter: need 0 <= min_volatility <= max_volatility")

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        symbol = candidate.symbol
        if (missing := _need_history(ctx, symbol, self.lookback + 1)) is not None:
            return missing
        returns = np.diff(np.log(ctx.closes(symbol)[-(self.lookback + 1) :]))
        vol = float(returns.std(ddof=1))
        if vol > self.max_volatility:
            return reject(
                f"volatility of {symbol} {_pct(vol)} above max {_pct(self.max_volatility)}"
            )
        if vol < self.min_volatility:
            return reject(
                f"volatility of {symbol} {_pct(vol)} below min {_pct(self.min_volatility)}"
            )
        return ACCEPT


@dataclass(frozen=True)
class DrawdownFilter:
    """Pause entries once equity falls ``max_drawdown`` below its peak; resume when the
    drawdown is back to ``resume_drawdown`` (default: ``max_drawdown``).

    The pause is replayed from the context's equity curve, so the filter holds no state.
    """

    max_drawdown: float = 0.10
    resume_drawdown: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.max_drawdown < 1:
            raise ValueError(f"DrawdownFilter: max_drawdown {self.max_drawdown} not in (0, 1)")
        if self.resume_drawdown is not None and not 0 <= self.resume_drawdown <= self.max_drawdown:
            raise ValueError("DrawdownFilter: need 0 <= resume_drawdown <= max_drawdown")

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        if ctx.equity_curve is None:
            raise ValueError("DrawdownFilter needs the context's equity curve")
        equity = ctx.equity_curve["equity"].to_numpy().astype(float)
        if equity.size == 0:
            return ACCEPT
        drawdown = 1.0 - equity / np.maximum.accumulate(equity)
        resume = self.max_drawdown if self.resume_drawdown is None else self.resume_drawdown
        paused = False
        for value in drawdown:
            if not paused and value >= self.max_drawdown:
                paused = True
            elif paused and value <= resume:
                paused = False
        if paused:
            return reject(
                f"drawdown {_pct(drawdown[-1])} (limit {_pct(self.max_drawdown)}): entries "
                f"paused until it is back to {_pct(resume)}"
            )
        return ACCEPT


@dataclass(frozen=True)
class CorrelationFilter:
    """Avoid stacking correlated risk: reject when the candidate's returns correlate above
    ``max_correlation`` with ``max_correlated`` or more positions held in the same effective
    direction (a short in a correlated name is a hedge, not a concentration).

    Correlations use the last ``lookback`` returns on the timestamps both symbols share.
    """

    lookback: int = 60
    max_correlation: float = 0.7
    max_correlated: int = 1

    def __post_init__(self) -> None:
        _check_lookback("CorrelationFilter", self.lookback, 3)
        if not -1 <= self.max_correlation <= 1:
            raise ValueError("CorrelationFilter: max_correlation must lie in [-1, 1]")
        if self.max_correlated < 1:
            raise ValueError("CorrelationFilter: max_correlated must be >= 1")

    def _returns(self, ctx: StrategyContext, symbol: str) -> pl.DataFrame:
        return (
            ctx.history(symbol)
            .select("timestamp", pl.col("close").log().diff().alias(symbol))
            .drop_nulls()
        )

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        symbol = candidate.symbol
        held = {s: h for s, h in ctx.holdings.items() if s != symbol and ctx.holding(s) is not None}
        correlated: list[str] = []
        mine = self._returns(ctx, symbol)
        for other, holding in sorted(held.items()):
            joined = mine.join(self._returns(ctx, other), on="timestamp").tail(self.lookback)
            if joined.height < 3:
                return reject(
                    f"correlation of {symbol} with held {other} unknown: "
                    f"{joined.height} common returns"
                )
            corr = float(np.corrcoef(joined[symbol].to_numpy(), joined[other].to_numpy())[0, 1])
            effective = corr * holding.direction * candidate.direction
            if effective > self.max_correlation:
                correlated.append(f"{other} ({corr:+.2f})")
        if len(correlated) >= self.max_correlated:
            return reject(
                f"{candidate.side} {symbol} correlates above {self.max_correlation:.2f} with "
                f"held {', '.join(correlated)}"
            )
        return ACCEPT


@dataclass(frozen=True)
class TimeOfDayFilter:
    """Enter only in ``allowed_hours`` (all if None) and never in ``blocked_hours``, in the
    hours of ``timezone``."""

    allowed_hours: tuple[int, ...] | None = None
    blocked_hours: tuple[int, ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        hours = (*(self.allowed_hours or ()), *self.blocked_hours)
        if any(not 0 <= h <= 23 for h in hours):
            raise ValueError(f"TimeOfDayFilter: hours must lie in 0..23, got {hours}")
        ZoneInfo(self.timezone)  # fails early on an unknown zone

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        if ctx.timestamp.tzinfo is None:
            raise ValueError(f"TimeOfDayFilter: timestamp {ctx.timestamp} has no time zone")
        hour = ctx.timestamp.astimezone(ZoneInfo(self.timezone)).hour
        if hour in self.blocked_hours:
            return reject(f"hour {hour:02d} ({self.timezone}) is blocked")
        if self.allowed_hours is not None and hour not in self.allowed_hours:
            return reject(f"hour {hour:02d} ({self.timezone}) is outside the allowed hours")
        return ACCEPT


@dataclass(frozen=True)
class PriceDistanceFilter:
    """Bound how far the price has run from its ``lookback``-bar average, in the entry's
    direction: ``distance = direction * (close / average - 1)`` must lie in
    [``min_distance``, ``max_distance``] (e.g. ``max_distance=0.05``: don't chase a long
    more than 5% above its average)."""

    lookback: int = 20
    min_distance: float = -math.inf
    max_distance: float = math.inf

    def __post_init__(self) -> None:
        _check_lookback("PriceDistanceFilter", self.lookback)
        if self.min_distance > self.max_distance:
            raise ValueError("PriceDistanceFilter: min_distance exceeds max_distance")

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        symbol = candidate.symbol
        if (missing := _need_history(ctx, symbol, self.lookback)) is not None:
            return missing
        closes = ctx.closes(symbol)[-self.lookback :]
        distance = candidate.direction * (closes[-1] / closes.mean() - 1.0)
        where = (
            f"{candidate.side} {symbol} is {_pct(distance)} past its {self.lookback}-bar average"
        )
        if distance > self.max_distance:
            return reject(f"{where}; max {_pct(self.max_distance)}")
        if distance < self.min_distance:
            return reject(f"{where}; min {_pct(self.min_distance)}")
        return ACCEPT


@dataclass(frozen=True)
class GridSpacingFilter:
    """For adding to a position (grid / averaging): the price must have moved at least
    ``min_spacing`` in our favour for a new entry, i.e. below the last entry for a long,
    above it for a short. Entries into a flat symbol, or against the held side, pass."""

    min_spacing: float = 0.02

    def __post_init__(self) -> None:
        if self.min_spacing < 0:
            raise ValueError(f"GridSpacingFilter: min_spacing {self.min_spacing} must be >= 0")

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        symbol = candidate.symbol
        holding = ctx.holding(symbol)
        if holding is None or holding.direction != candidate.direction:
            return ACCEPT
        reference = holding.reference_price
        price = ctx.price(symbol)
        improvement = candidate.direction * (reference - price) / reference
        if improvement < self.min_spacing:
            return reject(
                f"{symbol} at {price:.4f} is {_pct(improvement)} better than the last entry "
                f"{reference:.4f}; a new {candidate.side} entry needs {_pct(self.min_spacing)}"
            )
        return ACCEPT


@dataclass(frozen=True)
class SignalAccuracyFilter:
    """Pause entries while the signal has been wrong too often lately.

    A past signal at bar ``s`` (column ``signal_column``, its sign is its call) is a hit when
    the close ``horizon`` bars later moved its way. Only signals whose outcome is known at the
    decision time count; over the last ``window`` of them the hit rate must reach
    ``min_accuracy``. With fewer than ``min_samples`` outcomes the filter lets entries through.
    """

    signal_column: str = "signal"
    horizon: int = 1
    window: int = 50
    min_accuracy: float = 0.5
    min_samples: int = 20

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.window < 1 or self.min_samples < 1:
            raise ValueError("SignalAccuracyFilter: horizon, window and min_samples must be >= 1")
        if not 0 <= self.min_accuracy <= 1:
            raise ValueError("SignalAccuracyFilter: min_accuracy must lie in [0, 1]")

    def hit_rate(self, ctx: StrategyContext, symbol: str) -> tuple[float, int]:
        """(hit rate, number of resolved signals) over the last ``window`` resolved signals."""
        history = ctx.history(symbol)
        if self.signal_column not in history.columns:
            raise ValueError(f"SignalAccuracyFilter: bars have no column {self.signal_column!r}")
        h = self.horizon
        calls = np.sign(history[self.signal_column].fill_null(0.0).to_numpy().astype(float))[:-h]
        closes = history["close"].to_numpy().astype(float)
        moves = np.sign(closes[h:] - closes[:-h])
        made = calls != 0
        hits = (calls == moves)[made][-self.window :]
        return (float(hits.mean()) if hits.size else math.nan), int(hits.size)

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        rate, samples = self.hit_rate(ctx, candidate.symbol)
        if samples < self.min_samples or rate >= self.min_accuracy:
            return ACCEPT
        return reject(
            f"hit rate {_pct(rate)} of the last {samples} {candidate.symbol} signals is below "
            f"{_pct(self.min_accuracy)}"
        )


def _name(entry_filter: EntryFilter) -> str:
    return type(entry_filter).__name__


@dataclass(frozen=True)
class AllOf:
    """Accepts when every filter accepts; the rejection names each filter that refused."""

    filters: tuple[EntryFilter, ...]

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        reasons = [
            f"{_name(f)}: {decision.reason}"
            for f in self.filters
            if not (decision := f.check(ctx, candidate))
        ]
        return reject("; ".join(reasons)) if reasons else ACCEPT


@dataclass(frozen=True)
class AnyOf:
    """Accepts when at least one filter accepts; otherwise gives every filter's reason."""

    filters: tuple[EntryFilter, ...]

    def __post_init__(self) -> None:
        if not self.filters:
            raise ValueError("AnyOf needs at least one filter")

    def check(self, ctx: StrategyContext, candidate: EntryCandidate) -> FilterDecision:
        reasons = []
        for entry_filter in self.filters:
            decision = entry_filter.check(ctx, candidate)
            if decision:
                return ACCEPT
            reasons.append(f"{_name(entry_filter)}: {decision.reason}")
        return reject("no filter accepted: " + "; ".join(reasons))
