"""From signals to entry orders: direction rules, entry filters, then one vectorised sizing."""

from __future__ import annotations

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
    """

    sizer: PositionSizer
    entry_filter: EntryFilter | None = None
    min_strength: float = 0.0
    allow_short: bool = False
    add_to_positions: bool = False
    lot_size: float | None = None

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
        quantity = notional_to_quantity(notional, sizing.prices, self.lot_size)
        orders = []
        for symbol, target, amount in zip(sizing.symbols, quantity, notional, strict=True):
            if target == 0:
                rejected[symbol] = f"{type(self.sizer).__name__} sized {symbol} to zero"
                continue
            holding = ctx.holding(symbol)
            adding = holding is not None and holding.direction == np.sign(target)
            trade = target if adding or holding is None else target - holding.quantity
            reason = (
                f"signal {accepted[symbol]:+.3f}: {type(self.sizer).__name__} targets "
                f"{amount:,.2f} notional"
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
        if self.entry_filter is not None:
            decision = self.entry_filter.check(ctx, EntryCandidate(symbol, direction, abs(signal)))
            if not decision:
                return decision.reason
        return None


def _rows(covariance: np.ndarray, symbols: list[str], keep: Mapping[str, float]) -> np.ndarray:
    """The block of ``covariance`` (over ``symbols``) for the symbols in ``keep``."""
    cov = np.asarray(covariance, dtype=float)
    if cov.shape != (len(symbols), len(symbols)):
        raise ValueError(f"covariance has shape {cov.shape} for {len(symbols)} signalled symbols")
    index = [i for i, s in enumerate(symbols) if s in keep]
    return cov[np.ix_(index, index)]
