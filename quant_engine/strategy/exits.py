"""Exit rules evaluated bar by bar on each position: stop-loss, trailing stop, take-profit, time.

Intrabar rule (conservative): a bar's path between open, high and low is unknown, so

1. protective stops come first: if the bar's adverse extreme (low for a long, high for a
   short) touches the stop-loss or the trailing stop, the position exits at that stop, even
   when the same bar also reached the take-profit;
2. otherwise, if the favourable extreme touches the take-profit, it exits there;
3. otherwise, if the position has now been held ``max_bars`` bars, it exits at the close.

Gap rule: a bar that opens beyond a level exits at the open, as that level's exit, before
rule 1 (the open is the bar's first price, so the rest of its path comes later): a gap through
a stop fills worse than the stop, a gap through the target is a take-profit at the open even
when the bar then trades back through the stop. The trailing stop used on a bar is the one
set by the bars before it: the bar's own favourable extreme ratchets the stop only after the
bar is evaluated, and the stop never moves against the position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

import polars as pl

from quant_engine.strategy.risk_state import PositionRiskState, RiskBook

ExitReason = Literal["stop_loss", "trailing_stop", "take_profit", "time"]


class Bar(NamedTuple):
    """One OHLC bar of one symbol."""

    timestamp: datetime
    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True)
class ExitEvent:
    """A position leaves at ``price`` on the bar stamped ``timestamp``, for ``reason``."""

    symbol: str
    timestamp: datetime
    price: float
    reason: ExitReason


@dataclass(frozen=True)
class ExitRules:
    """Distances of the exit levels from the entry price, as fractions (0.02 = 2%), and the
    longest holding in bars. ``None`` switches a rule off."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_bars: int | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "trailing_stop"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(f"ExitRules: {name} {value} must lie in (0, 1)")
        if self.take_profit is not None and not self.take_profit > 0:
            raise ValueError(f"ExitRules: take_profit {self.take_profit} must be positive")
        if self.max_bars is not None and self.max_bars < 1:
            raise ValueError(f"ExitRules: max_bars {self.max_bars} must be >= 1")

    def open_position(
        self,
        symbol: str,
        direction: int,
        entry_price: float,
        entry_time: datetime,
        quantity: float = 0.0,
    ) -> PositionRiskState:
        """The risk state of a new position with these rules' levels around its entry."""
        d = direction
        return PositionRiskState(
            symbol=symbol,
            direction=d,
            entry_price=entry_price,
            entry_time=entry_time,
            quantity=quantity,
            stop_loss_price=None
            if self.stop_loss is None
            else entry_price * (1.0 - d * self.stop_loss),
            take_profit_price=None
            if self.take_profit is None
            else entry_price * (1.0 + d * self.take_profit),
            trailing_stop_pct=self.trailing_stop,
            max_bars=self.max_bars,
        )


def _advance(state: PositionRiskState, **changes: object) -> PositionRiskState:
    """A copy of ``state`` with ``changes``, skipping re-validation: called once per bar with
    values derived from an already valid state and a checked bar."""
    new = object.__new__(PositionRiskState)
    new.__dict__.update(state.__dict__, **changes)
    return new


def _hit_stop(state: PositionRiskState, bar: Bar) -> tuple[float, ExitReason] | None:
    """The stop the bar runs into first (the nearest one), if any."""
    d = state.direction
    stops = [
        (level, reason)
        for level, reason in (
            (state.stop_loss_price, "stop_loss"),
            (state.trailing_stop_price, "trailing_stop"),
        )
        if level is not None
    ]
    if not stops:
        return None
    # The nearest stop is the highest for a long, the lowest for a short (ties: stop_loss).
    level, reason = max(stops, key=lambda s: d * s[0])
    adverse = bar.low if d > 0 else bar.high
    if d * adverse > d * level:
        return None
    fill = min(bar.open, level) if d > 0 else max(bar.open, level)
    return fill, reason


def evaluate_bar(state: PositionRiskState, bar: Bar) -> tuple[PositionRiskState, ExitEvent | None]:
    """Apply one bar to a position: its updated risk state, and the exit if one triggers."""
    if bar.timestamp < state.entry_time:
        raise ValueError(f"{state.symbol}: bar {bar.timestamp} precedes entry {state.entry_time}")
    if state.last_update is not None and bar.timestamp <= state.last_update:
        raise ValueError(
            f"{state.symbol}: bar {bar.timestamp} is not after the last bar {state.last_update}"
        )
    if not 0 < bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
        raise ValueError(f"{state.symbol}: inconsistent bar {bar}")
    d = state.direction
    bars_held = state.bars_held + 1

    def leave(price: float, reason: ExitReason) -> tuple[PositionRiskState, ExitEvent]:
        held = _advance(state, bars_held=bars_held, last_update=bar.timestamp)
        return held, ExitEvent(state.symbol, bar.timestamp, float(price), reason)

    target = state.take_profit_price
    if target is not None and d * bar.open >= d * target:  # gapped through the target
        return leave(bar.open, "take_profit")
    if (stop := _hit_stop(state, bar)) is not None:
        return leave(*stop)
    favourable = bar.high if d > 0 else bar.low
    if target is not None and d * favourable >= d * target:
        return leave(max(bar.open, target) if d > 0 else min(bar.open, target), "take_profit")
    if state.max_bars is not None and bars_held >= state.max_bars:
        return leave(bar.close, "time")
    extreme = max(state.extreme_price, bar.high) if d > 0 else min(state.extreme_price, bar.low)
    trailing = state.trailing_stop_price
    if state.trailing_stop_pct is not None:
        candidate = extreme * (1.0 - d * state.trailing_stop_pct)
        trailing = max(trailing, candidate) if d > 0 else min(trailing, candidate)
    updated = _advance(
        state,
        bars_held=bars_held,
        last_update=bar.timestamp,
        extreme_price=float(extreme),
        trailing_stop_price=None if trailing is None else float(trailing),
    )
    return updated, None


def run_exits(
    state: PositionRiskState, bars: Iterable[Bar] | pl.DataFrame
) -> tuple[PositionRiskState, ExitEvent | None]:
    """Walk ``bars`` (oldest first) until the position exits; the last state and the exit."""
    if isinstance(bars, pl.DataFrame):
        bars = (Bar(*row) for row in bars.select(Bar._fields).iter_rows())
    for bar in bars:
        state, event = evaluate_bar(state, bar)
        if event is not None:
            return state, event
    return state, None


def advance_book(book: RiskBook, bars: dict[str, Bar]) -> tuple[RiskBook, list[ExitEvent]]:
    """Apply this cycle's bar of each symbol to its position; exited positions leave the book.

    Positions without a bar this cycle are carried over unchanged.
    """
    positions: dict[str, PositionRiskState] = {}
    exits: list[ExitEvent] = []
    latest = book.timestamp
    for symbol, state in book.positions.items():
        bar = bars.get(symbol)
        if bar is None:
            positions[symbol] = state
            continue
        latest = max(latest, bar.timestamp)
        state, event = evaluate_bar(state, bar)
        if event is None:
            positions[symbol] = state
        else:
            exits.append(event)
    return RiskBook(timestamp=latest, positions=positions, notes=book.notes), exits
