"""The decision core: scores and the current book in, target weights and trades out.

The vectorized backtest, the event-driven simulator and the live daily rebalance all call it,
so a rule changed here changes all three alike. It knows nothing of simulation: it receives
prices and a book, and returns what to hold. :meth:`DecisionCore.plan` is the one trade planner
(dust, size risk, minimum trade, costs reserved, cash buffer, lots, minimum notional, sells
before buys); :meth:`DecisionCore.plan_holdings` is the same planner keyed by symbol, as the
live order management calls it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from quant_engine.portfolio.config import ConstructionConfig
from quant_engine.portfolio.construction import target_weights
from quant_engine.portfolio.kernels import plan_kernel
from quant_engine.portfolio.rebalance import WeightRebalance
from quant_engine.portfolio.state import CycleState, PlannedTrade

_EMPTY = np.zeros(0)


@dataclass(frozen=True)
class BookState:
    """Holdings the core rebalances from.

    ``sleeve_equity`` is each name's own equity (its share of capital plus its PnL), needed by
    per-symbol allocation; cross-sectional books use ``cash`` plus the marked positions.
    """

    shares: np.ndarray
    cash: float
    sleeve_equity: np.ndarray | None = None


@dataclass(frozen=True)
class Plan:
    """Shares to hold after a rebalance at ``prices``, and the trades that get there."""

    target_shares: np.ndarray
    trades: np.ndarray  # shares, per name (0 where nothing trades)
    order: np.ndarray  # indices of the trades, sells before buys
    equity: float | np.ndarray  # what the weights were sized on
    rebalance: WeightRebalance


@dataclass(frozen=True)
class DecisionCore:
    """Portfolio construction under one :class:`ConstructionConfig`."""

    config: ConstructionConfig = field(default_factory=ConstructionConfig)

    def target_weights(self, scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """Target weights for one cycle (vector) or many (dates x symbols matrix)."""
        return target_weights(scores, eligible, self.config)

    def plan(
        self,
        weights: np.ndarray,
        book: BookState,
        prices: np.ndarray,
        adv: np.ndarray | None = None,
        cost_rate: float = 0.0,
        marks: np.ndarray | None = None,
        lots: np.ndarray | None = None,
        min_notional: np.ndarray | None = None,
    ) -> Plan:
        """Trades taking ``book`` to ``weights`` at ``prices``; names without a price stay put.

        ``marks`` value the names that have no price now (their last price); without them such
        names count as worth nothing when sizing. ``lots`` (shares per lot, 0: none; default:
        the config's ``lot_size`` for every name) round new targets toward zero to whole lots;
        trades worth less than ``min_notional`` are skipped.
        """
        per_symbol = self.config.allocation == "per_symbol"
        if per_symbol and book.sleeve_equity is None:
            raise ValueError("per_symbol allocation needs the book's sleeve_equity")
        n = len(weights)
        rules = self.config
        target, trades, order, final, equity, discarded, skipped = plan_kernel(
            np.asarray(weights, dtype=float),
            np.asarray(book.shares, dtype=float),
            float(book.cash),
            np.asarray(book.sleeve_equity, dtype=float) if per_symbol else _EMPTY,
            np.asarray(prices, dtype=float),
            np.zeros(n) if marks is None else np.asarray(marks, dtype=float),
            per_symbol,
            1.0 / (1.0 + cost_rate) if rules.sizes_with_costs else 1.0,
            rules.dust_weight,
            np.nan if rules.max_volume_share is None or adv is None else rules.max_volume_share,
            np.full(n, np.nan) if adv is None else np.asarray(adv, dtype=float),
            rules.min_trade_value,
            1.0 - rules.cash_buffer,
            _lots(lots, rules.lot_size, n),
            _EMPTY if min_notional is None else np.asarray(min_notional, dtype=float),
        )
        result = WeightRebalance(final, discarded, skipped)
        sized_on = equity if per_symbol else float(equity[0])
        return Plan(target, trades, order, sized_on, result)

    def plan_holdings(
        self,
        weights: Mapping[str, float],
        holdings: Mapping[str, float],
        cash: float,
        prices: Mapping[str, float],
        *,
        marks: Mapping[str, float] | None = None,
        adv: Mapping[str, float] | None = None,
        cost_rate: float = 0.0,
        lots: Mapping[str, float] | None = None,
        min_notional: Mapping[str, float] | None = None,
    ) -> HoldingsPlan:
        """:meth:`plan` keyed by symbol: ``holdings`` (shares) and ``cash`` to ``weights``.

        Names held but not weighted get weight 0; names without a price stay put, valued at
        ``marks`` where given. A non-zero weight needs a positive price. ``adv`` is the dollar
        ADV known at the decision (size risk); names absent from it cannot be held under a
        volume cap.
        """
        for symbol, weight in weights.items():
            price = prices.get(symbol)
            if weight and not (price is not None and math.isfinite(price) and price > 0):
                raise ValueError(f"target weight {weight} for {symbol} needs a positive price")
        symbols = sorted(set(weights) | {s for s, q in holdings.items() if q})
        marks = marks or {}

        def column(values: Mapping[str, float] | None, missing: float) -> np.ndarray | None:
            if values is None:
                return None
            return np.array([float(values.get(s, missing)) for s in symbols])

        plan = self.plan(
            np.array([float(weights.get(s, 0.0)) for s in symbols]),
            BookState(np.array([float(holdings.get(s, 0.0)) for s in symbols]), float(cash)),
            np.array([float(prices.get(s, np.nan)) for s in symbols]),
            column(adv, np.nan),
            cost_rate,
            np.array([float(marks.get(s, 0.0)) for s in symbols]),
            column(lots, 0.0),
            column(min_notional, 0.0),
        )
        return HoldingsPlan(symbols, plan)

    def decide(
        self,
        timestamp: object,
        symbols: list[str],
        scores: np.ndarray,
        eligible: np.ndarray,
        book: BookState,
        prices: np.ndarray,
        adv: np.ndarray | None = None,
        cost_rate: float = 0.0,
    ) -> tuple[Plan, CycleState]:
        """One full cycle (what the live rebalance runs): weights, trades and their record."""
        weights = self.target_weights(scores, eligible)
        plan = self.plan(weights, book, prices, adv, cost_rate)
        return plan, cycle_state(timestamp, symbols, scores, eligible, weights, plan, prices)


def _lots(lots: np.ndarray | None, lot_size: float, n: int) -> np.ndarray:
    """Shares per lot of each name: ``lots`` where given, else ``lot_size`` (empty: none)."""
    if lots is not None:
        return np.asarray(lots, dtype=float)
    return np.full(n, lot_size) if lot_size > 0 else _EMPTY


@dataclass(frozen=True)
class HoldingsPlan:
    """A :class:`Plan` over named symbols."""

    symbols: list[str]
    plan: Plan

    @property
    def target_shares(self) -> dict[str, float]:
        """Shares to hold per symbol (every symbol planned, 0 included)."""
        return {s: float(q) for s, q in zip(self.symbols, self.plan.target_shares, strict=True)}


def cycle_state(
    timestamp: object,
    symbols: list[str],
    scores: np.ndarray,
    eligible: np.ndarray,
    weights: np.ndarray,
    plan: Plan,
    prices: np.ndarray,
) -> CycleState:
    """The JSON-serialisable record of one decision."""
    investable = float(np.sum(plan.equity)) if np.ndim(plan.equity) else float(plan.equity)
    notional = plan.trades * np.nan_to_num(prices)
    final = plan.rebalance.weights
    return CycleState(
        timestamp=str(timestamp),
        raw_signals={s: float(v) for s, v, ok in zip(symbols, scores, eligible, strict=True) if ok},
        target_weights={s: float(w) for s, w in zip(symbols, weights, strict=True) if w},
        final_weights={s: float(w) for s, w in zip(symbols, final, strict=True) if w},
        investable_equity=investable,
        accepted_investable_equity=investable - plan.rebalance.size_risk_discarded_value,
        size_risk_discarded_value=plan.rebalance.size_risk_discarded_value,
        max_position_adjust=float(np.max(np.abs(notional), initial=0.0)),
        skipped_trades=plan.rebalance.skipped_trades,
        trades=[
            PlannedTrade(symbols[i], float(plan.trades[i]), float(prices[i]), float(notional[i]))
            for i in plan.order
        ],
    )
