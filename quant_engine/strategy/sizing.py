"""Position sizers: from signals and portfolio state to a target notional per symbol.

Every sizer is a frozen dataclass whose fields are its configuration, and maps a
:class:`SizingContext` to a vector of signed target notionals aligned with its symbols: the sign
comes from the signal (+ long, - short), zero where there is no signal. What zero means for an
existing position (close it, or leave it) is the caller's rule. Shared limits on every sizer:
``max_fraction`` caps each position at that share of equity, and targets smaller than
``min_notional`` become zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from quant_engine.strategy.risk_parity import (
    equal_risk_contribution_weights,
    inverse_volatility_weights,
)


@dataclass(frozen=True)
class SizingContext:
    """Everything a sizer may read, as aligned vectors over ``symbols``.

    ``signals`` are signed strengths in [-1, 1]: the sign is the direction, the magnitude the
    conviction or probability; 0 is no signal. ``volatilities`` are per-period return
    volatilities (0.02 = 2%); ``covariance`` is the return covariance over ``symbols``;
    ``open_entries`` counts the entries (grid levels) already open per symbol.
    """

    equity: float
    symbols: tuple[str, ...]
    prices: np.ndarray
    signals: np.ndarray
    volatilities: np.ndarray | None = None
    covariance: np.ndarray | None = None
    open_entries: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.equity) and self.equity > 0):
            raise ValueError(f"sizing equity {self.equity} must be positive and finite")
        n = len(self.symbols)
        vectors = {
            "prices": self.prices,
            "signals": self.signals,
            "volatilities": self.volatilities,
            "open_entries": self.open_entries,
        }
        for name, values in vectors.items():
            if values is None:
                continue
            values = np.asarray(values, dtype=float)
            if values.shape != (n,):
                raise ValueError(f"sizing {name} has shape {values.shape}, expected ({n},)")
            bad = ~np.isfinite(values)
            if name in ("prices", "volatilities"):
                bad |= values <= 0
            elif name == "signals":
                bad |= np.abs(values) > 1
            else:
                bad |= values < 0
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"sizing {name}: symbol {self.symbols[i]!r} has value {values[i]}")
            object.__setattr__(self, name, values)
        if self.covariance is not None:
            cov = np.asarray(self.covariance, dtype=float)
            if cov.shape != (n, n):
                raise ValueError(f"sizing covariance has shape {cov.shape}, expected ({n}, {n})")
            object.__setattr__(self, "covariance", cov)

    @classmethod
    def from_mappings(
        cls,
        equity: float,
        prices: Mapping[str, float],
        signals: Mapping[str, float],
        volatilities: Mapping[str, float] | None = None,
        open_entries: Mapping[str, int] | None = None,
        covariance: np.ndarray | None = None,
    ) -> SizingContext:
        """Build from per-symbol mappings; the symbols are those of ``signals``, sorted (and
        ``covariance``, when given, is over the symbols in that order)."""
        symbols = tuple(sorted(signals))
        missing = [s for s in symbols if s not in prices]
        if missing:
            raise ValueError(f"no price for signalled symbol(s) {missing}")

        def vector(values: Mapping[str, float] | None, default: float | None) -> np.ndarray | None:
            if values is None:
                return None
            return np.array([values.get(s, default) for s in symbols], dtype=float)

        return cls(
            equity=equity,
            symbols=symbols,
            prices=vector(prices, None),
            signals=vector(signals, 0.0),
            volatilities=vector(volatilities, np.nan),
            open_entries=vector(open_entries, 0.0),
            covariance=covariance,
        )

    def require_volatilities(self, sizer: str) -> np.ndarray:
        if self.volatilities is None:
            raise ValueError(f"{sizer} needs volatilities in the sizing context")
        return self.volatilities


@runtime_checkable
class PositionSizer(Protocol):
    """Maps a sizing context to signed target notionals aligned with its symbols."""

    def target_notional(self, ctx: SizingContext) -> np.ndarray: ...


def notional_to_quantity(
    notional: np.ndarray, prices: np.ndarray, lot_size: float | None = None
) -> np.ndarray:
    """Signed quantities for signed notionals, rounded toward zero to whole lots if given."""
    quantity = np.asarray(notional, dtype=float) / np.asarray(prices, dtype=float)
    if lot_size is None:
        return quantity
    if lot_size <= 0:
        raise ValueError(f"lot size {lot_size} must be positive")
    return np.trunc(quantity / lot_size) * lot_size


def kelly_fraction(win_probability: np.ndarray, payoff_ratio: np.ndarray) -> np.ndarray:
    """Full Kelly bet ``f* = (p b - (1 - p)) / b``; negative where there is no edge."""
    p = np.asarray(win_probability, dtype=float)
    b = np.asarray(payoff_ratio, dtype=float)
    if np.any((p < 0) | (p > 1)) or np.any(b <= 0):
        raise ValueError("win probability must lie in [0, 1] and payoff ratio be positive")
    return (p * b - (1.0 - p)) / b


def trade_statistics(pnls: Sequence[float]) -> tuple[float, float]:
    """(win rate, payoff ratio = mean win / mean loss) of closed trades' PnLs."""
    values = np.asarray(pnls, dtype=float)
    wins, losses = values[values > 0], values[values < 0]
    if wins.size == 0 or losses.size == 0:
        raise ValueError("trade statistics need at least one winning and one losing trade")
    return wins.size / values.size, float(wins.mean() / -losses.mean())


@dataclass(frozen=True, kw_only=True)
class _Sizer:
    """Limits shared by every sizer."""

    max_fraction: float = 1.0  # cap per position, as a share of equity
    min_notional: float = 0.0  # smaller targets become zero

    def __post_init__(self) -> None:
        if not self.max_fraction > 0:
            raise ValueError(f"{type(self).__name__}: max_fraction must be positive")
        if self.min_notional < 0:
            raise ValueError(f"{type(self).__name__}: min_notional must be >= 0")

    def target_notional(self, ctx: SizingContext) -> np.ndarray:
        size = np.clip(self._size(ctx), 0.0, self.max_fraction * ctx.equity)
        size = np.where(size < self.min_notional, 0.0, size)
        return np.sign(ctx.signals) * size

    def target_quantity(self, ctx: SizingContext, lot_size: float | None = None) -> np.ndarray:
        """Signed target quantities, rounded toward zero to ``lot_size`` when given."""
        return notional_to_quantity(self.target_notional(ctx), ctx.prices, lot_size)

    def _size(self, ctx: SizingContext) -> np.ndarray:
        """Unsigned notional per symbol before the shared limits."""
        raise NotImplementedError


def _check_fraction(name: str, value: float, owner: str) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{owner}: {name} {value} must lie in [0, 1]")


@dataclass(frozen=True, kw_only=True)
class FixedFractionSizer(_Sizer):
    """A fixed share of equity per signalled position: ``fraction * equity``."""

    fraction: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction("fraction", self.fraction, "FixedFractionSizer")

    def _size(self, ctx: SizingContext) -> np.ndarray:
        return np.full(len(ctx.symbols), self.fraction * ctx.equity)


@dataclass(frozen=True, kw_only=True)
class SignalStrengthSizer(_Sizer):
    """``fraction * equity * |signal|``; signals weaker than ``min_strength`` are skipped."""

    fraction: float = 0.1
    min_strength: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction("fraction", self.fraction, "SignalStrengthSizer")
        _check_fraction("min_strength", self.min_strength, "SignalStrengthSizer")

    def _size(self, ctx: SizingContext) -> np.ndarray:
        strength = np.abs(ctx.signals)
        return np.where(strength >= self.min_strength, self.fraction * ctx.equity * strength, 0.0)


@dataclass(frozen=True, kw_only=True)
class KellySizer(_Sizer):
    """Fractional Kelly: ``kelly_multiplier * f*`` of equity, capped at ``max_fraction``.

    The win probability is ``win_rate`` when set (e.g. from :func:`trade_statistics`), else
    each signal's strength. No edge (``f* <= 0``) means no position.
    """

    kelly_multiplier: float = 0.5  # 0.5 = half Kelly
    payoff_ratio: float = 1.0
    win_rate: float | None = None
    max_fraction: float = 0.25

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction("kelly_multiplier", self.kelly_multiplier, "KellySizer")
        if self.win_rate is not None:
            _check_fraction("win_rate", self.win_rate, "KellySizer")
        if not self.payoff_ratio > 0:
            raise ValueError(f"KellySizer: payoff_ratio {self.payoff_ratio} must be positive")

    def _size(self, ctx: SizingContext) -> np.ndarray:
        p = (
            np.abs(ctx.signals)
            if self.win_rate is None
            else np.full(len(ctx.symbols), self.win_rate)
        )
        return self.kelly_multiplier * kelly_fraction(p, self.payoff_ratio) * ctx.equity


@dataclass(frozen=True, kw_only=True)
class VolatilityTargetSizer(_Sizer):
    """Each position contributes ``target_volatility`` of equity: ``target * equity / vol``."""

    target_volatility: float = 0.01
    max_fraction: float = 0.2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.target_volatility > 0:
            raise ValueError("VolatilityTargetSizer: target_volatility must be positive")

    def _size(self, ctx: SizingContext) -> np.ndarray:
        vol = ctx.require_volatilities("VolatilityTargetSizer")
        return self.target_volatility * ctx.equity / vol


@dataclass(frozen=True, kw_only=True)
class RiskParitySizer(_Sizer):
    """Spreads ``gross_exposure * equity`` over the signalled symbols with equal risk.

    ``inverse_volatility`` weights by ``1 / vol``; ``equal_risk_contribution`` uses the
    context's covariance so that each position adds the same share of portfolio variance.
    """

    gross_exposure: float = 1.0
    method: Literal["inverse_volatility", "equal_risk_contribution"] = "inverse_volatility"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.gross_exposure > 0:
            raise ValueError("RiskParitySizer: gross_exposure must be positive")
        if self.method not in ("inverse_volatility", "equal_risk_contribution"):
            raise ValueError(f"RiskParitySizer: unknown method {self.method!r}")

    def _size(self, ctx: SizingContext) -> np.ndarray:
        active = np.flatnonzero(ctx.signals)
        size = np.zeros(len(ctx.symbols))
        if active.size == 0:
            return size
        if self.method == "inverse_volatility":
            vol = ctx.require_volatilities("RiskParitySizer")
            weights = inverse_volatility_weights(vol[active])
        else:
            if ctx.covariance is None:
                raise ValueError("RiskParitySizer(equal_risk_contribution) needs a covariance")
            # Risk is taken on signed positions: flip the covariance of shorts accordingly.
            sign = np.sign(ctx.signals[active])
            cov = ctx.covariance[np.ix_(active, active)] * np.outer(sign, sign)
            weights = equal_risk_contribution_weights(cov)
        size[active] = self.gross_exposure * ctx.equity * weights
        return size


@dataclass(frozen=True, kw_only=True)
class MartingaleSizer(_Sizer):
    """Grid / averaging-down sizing: ``base_fraction * equity * multiplier ** open_entries``.

    No new entry once ``max_levels`` entries are open; ``max_fraction`` caps the size of any
    one entry. Martingale loses heavily in trends: keep the cap and the levels tight.
    """

    base_fraction: float = 0.01
    multiplier: float = 2.0
    max_levels: int = 5
    max_fraction: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_fraction("base_fraction", self.base_fraction, "MartingaleSizer")
        if not self.multiplier >= 1:
            raise ValueError(f"MartingaleSizer: multiplier {self.multiplier} must be >= 1")
        if self.max_levels < 1:
            raise ValueError(f"MartingaleSizer: max_levels {self.max_levels} must be >= 1")

    def _size(self, ctx: SizingContext) -> np.ndarray:
        levels = np.zeros(len(ctx.symbols)) if ctx.open_entries is None else ctx.open_entries
        size = self.base_fraction * ctx.equity * self.multiplier**levels
        return np.where(levels < self.max_levels, size, 0.0)
