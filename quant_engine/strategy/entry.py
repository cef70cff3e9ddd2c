"""From signals to entry orders: direction rules, entry filters, then one vectorised sizing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from quant_engine.strategy.context import EntryCandidate, StrategyContext
from quant_engine.strategy.filters import EntryFilter
from quant_engine.strategy.model import OrderIntent
from quant_engine.strategy.sizing import PositionSizer, SizingContext, notional_to_quantity


@dataclass(frozen=True)
class EntryPlan:
    """The entry orders to place, and why each other signalled symbol gets none."""

    orders: tuple[OrderIntent, ...]
    rejected: Mapping[str, str]


@dataclass(frozen=True)
class SignalEntryRule:
    """Turns this bar's signals (signed strengths in [-1, 1]) into entry orders.

    A symbol gets an entry when its signal reaches ``min_strength`` (shorts only with
    ``allow_short``), it is not already held on that side (unless ``add_to_positions``, for
    grids: each new entry is sized by the sizer, which sees the open entries), and
    ``entry_filter`` accepts it. The survivors are sized together; a held opposite position
    is closed and reversed by the same order.

    Caps, applied to every sizer: ``max_positions`` (positions held at once: the strongest
    signals, then the symbol order, take the free slots), ``max_entries_per_symbol`` (open
    entries in one symbol, for grids) and ``max_gross_exposure`` (the capital in use, as a
    fraction of equity: the positions held, at their latest price, plus the new entries; the
    new entries are scaled down pro rata to fit what is left, so 30 signals at 10% each in an
    empty book order 100% of equity, not 300%, and with 9,000 held in a 10,000 book a
    risk-parity sizer orders 1,000). ``None`` switches a cap off.
    """

    sizer: PositionSizer
    entry_filter: EntryFilter | None = None
    min_strength: float = 0.0
    allow_short: bool = False
    add_to_positions: bool = False
    lot_size: float | None = None
    max_gross_exposure: float | None = 1.0
    max_positions: int | None = None
    max_entries_per_symbol: int | None = None

    def __post_init__(self) -> None:
        if self.max_gross_exposure is not None and not 0 < self.max_gross_exposure < math.inf:
            raise ValueError(f"max_gross_exposure {self.max_gross_exposure} must be positive")
        for name in ("max_positions", "max_entries_per_symbol"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} {value!r} must be an integer >= 1")

    def plan(
        self,
        ctx: StrategyContext,
        signals: Mapping[str, float],
        volatilities: Mapping[str, float] | None = None,
        covariance: np.ndarray | None = None,
    ) -> EntryPlan:
        """Entry orders for ``signals`` at the context's time. ``covariance`` (for
        equal-risk-contribution sizing) is over the symbols of ``signals`` in sorted order."""
        rejected: dict[str, str] = {}
        accepted: dict[str, float] = {}
        for symbol, signal in sorted(signals.items()):
            reason = self._refusal(ctx, symbol, float(signal))
            if reason is None:
                accepted[symbol] = float(signal)
            elif reason:
                rejected[symbol] = reason
        accepted = self._free_slots(ctx, accepted, rejected)
        if not accepted:
            return EntryPlan((), rejected)
        entries = {
            s: h.entries if (h := ctx.holding(s)) is not None and h.direction == np.sign(v) else 0
            for s, v in accepted.items()
        }
        sizing = SizingContext.from_mappings(
            ctx.equity,
            prices={s: ctx.price(s) for s in accepted},
            signals=accepted,
            volatilities=None if volatilities is None else {s: volatilities[s] for s in accepted},
            open_entries=entries,
            covariance=None if covariance is None else _rows(covariance, sorted(signals), accepted),
        )
        notional = self.sizer.target_notional(sizing)
        notional, capped = self._fit_capital(ctx, accepted, notional)
        quantity = notional_to_quantity(notional, sizing.prices, self.lot_size)
        orders = []
        for symbol, target, amount in zip(sizing.symbols, quantity, notional, strict=True):
            if target == 0:
                rejected[symbol] = capped or f"{type(self.sizer).__name__} sized {symbol} to zero"
                continue
            holding = ctx.holding(symbol)
            adding = holding is not None and holding.direction == np.sign(target)
            trade = target if adding or holding is None else target - holding.quantity
            reason = (
                f"signal {accepted[symbol]:+.3f}: {type(self.sizer).__name__} targets "
                f"{amount:,.2f} notional{'; ' + capped if capped else ''}"
            )
            orders.append(OrderIntent(symbol, float(trade), reason))
        return EntryPlan(tuple(orders), rejected)

    def _refusal(self, ctx: StrategyContext, symbol: str, signal: float) -> str | None:
        """Why ``symbol`` gets no entry (empty: no signal at all), or None to go ahead."""
        if signal == 0 or not np.isfinite(signal):
            return ""
        if abs(signal) < self.min_strength:
            return f"signal {signal:+.3f} weaker than {self.min_strength:.3f}"
        direction = 1 if signal > 0 else -1
        if direction < 0 and not self.allow_short:
            return "short entries are not allowed"
        holding = ctx.holding(symbol)
        if holding is not None and holding.direction == direction and not self.add_to_positions:
            return f"already {'long' if direction > 0 else 'short'} {symbol}"
        most = self.max_entries_per_symbol
        same_side = holding is not None and holding.direction == direction
        if same_side and most is not None and holding.entries >= most:
            return f"{holding.entries} entries open in {symbol} (max_entries_per_symbol {most})"
        if self.entry_filter is not None:
            decision = self.entry_filter.check(ctx, EntryCandidate(symbol, direction, abs(signal)))
            if not decision:
                return decision.reason
        return None

    def _free_slots(
        self, ctx: StrategyContext, accepted: dict[str, float], rejected: dict[str, str]
    ) -> dict[str, float]:
        """``accepted`` cut to the free position slots, strongest signals first."""
        if self.max_positions is None:
            return accepted
        held = {s for s in ctx.holdings if ctx.holding(s) is not None}
        new = sorted((s for s in accepted if s not in held), key=lambda s: (-abs(accepted[s]), s))
        free = max(0, self.max_positions - len(held))
        for symbol in new[free:]:
            rejected[symbol] = f"{len(held)} positions held (max_positions {self.max_positions})"
        keep = set(new[:free]) | (set(accepted) & held)
        return {s: v for s, v in accepted.items() if s in keep}

    def _fit_capital(
        self, ctx: StrategyContext, accepted: Mapping[str, float], notional: np.ndarray
    ) -> tuple[np.ndarray, str]:
        """``notional`` scaled down to the capital left under ``max_gross_exposure`` (and
        why, empty when it fits). A position the entry reverses frees its capital."""
        if self.max_gross_exposure is None:
            return notional, ""
        held = 0.0
        for symbol in ctx.holdings:
            holding = ctx.holding(symbol)
            if holding is None:
                continue
            signal = accepted.get(symbol)
            if signal is not None and np.sign(signal) != holding.direction:
                continue  # reversed by its entry order
            price = ctx.price(symbol) if ctx.history(symbol).height else holding.average_price
            held += abs(holding.quantity) * price
        budget = self.max_gross_exposure * ctx.equity
        wanted = float(np.abs(notional).sum())
        left = max(0.0, budget - held)
        if wanted <= left:
            return notional, ""
        used = f"{held / ctx.equity:.2%} of equity in use"
        why = f"scaled to fit max_gross_exposure {self.max_gross_exposure:.2%} ({used})"
        return notional * (left / wanted), why


def _rows(covariance: np.ndarray, symbols: list[str], keep: Mapping[str, float]) -> np.ndarray:
    """The block of ``covariance`` (over ``symbols``) for the symbols in ``keep``."""
    cov = np.asarray(covariance, dtype=float)
    if cov.shape != (len(symbols), len(symbols)):
        raise ValueError(f"covariance has shape {cov.shape} for {len(symbols)} signalled symbols")
    index = [i for i, s in enumerate(symbols) if s in keep]
    return cov[np.ix_(index, index)]
