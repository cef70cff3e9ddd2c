"""Per-position risk state (stop-loss, take-profit, trailing stop) and its JSON form.

A :class:`PositionRiskState` holds everything the exit rules need to go on evaluating a
position, so a strategy can stop after any cycle and resume from the JSON of its
:class:`RiskBook`. Round trips are exact: floats are written with ``repr`` precision and
timestamps as ISO 8601 with their offset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Self

_TIMES = ("entry_time", "last_update")


def _finite_positive(name: str, value: float | None, symbol: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"risk state of {symbol}: {name} {value} must be positive and finite")


@dataclass(frozen=True)
class PositionRiskState:
    """Exit levels of one open position; prices are absolute, ``None`` means no such rule.

    ``extreme_price`` is the best price seen since entry (highest high for a long, lowest low
    for a short) and drives the trailing stop, which sits ``trailing_stop_pct`` behind it and
    only ever moves in the position's favour.
    """

    symbol: str
    direction: int  # +1 long, -1 short
    entry_price: float
    entry_time: datetime
    quantity: float = 0.0
    stop_loss_price: float | None = None
    take_profit_price: float | None = None
    trailing_stop_pct: float | None = None
    trailing_stop_price: float | None = None
    extreme_price: float | None = None
    max_bars: int | None = None
    bars_held: int = 0
    last_update: datetime | None = None

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise ValueError(f"risk state of {self.symbol}: direction {self.direction} not +1/-1")
        for name in (
            "entry_price",
            "stop_loss_price",
            "take_profit_price",
            "trailing_stop_price",
            "extreme_price",
        ):
            _finite_positive(name, getattr(self, name), self.symbol)
        if self.trailing_stop_pct is not None and not 0 < self.trailing_stop_pct < 1:
            raise ValueError(
                f"risk state of {self.symbol}: trailing_stop_pct {self.trailing_stop_pct} "
                "not in (0, 1)"
            )
        if self.max_bars is not None and self.max_bars < 1:
            raise ValueError(f"risk state of {self.symbol}: max_bars {self.max_bars} must be >= 1")
        if self.bars_held < 0:
            raise ValueError(f"risk state of {self.symbol}: bars_held must be >= 0")
        if self.extreme_price is None:
            object.__setattr__(self, "extreme_price", self.entry_price)
        if self.trailing_stop_pct is not None and self.trailing_stop_price is None:
            level = self.extreme_price * (1.0 - self.direction * self.trailing_stop_pct)
            object.__setattr__(self, "trailing_stop_price", level)

    def with_levels(self, **levels: float | None) -> Self:
        """A copy with some levels replaced (e.g. a stop moved to break-even)."""
        return replace(self, **levels)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in _TIMES:
            if data[name] is not None:
                data[name] = data[name].isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"risk state has unknown field(s) {unknown}")
        values = dict(data)
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


@dataclass(frozen=True)
class RiskBook:
    """A strategy's per-cycle risk state: open positions' levels by symbol, plus free-form
    JSON-safe ``notes`` (e.g. the cycle's signals or diagnostics)."""

    timestamp: datetime
    positions: Mapping[str, PositionRiskState] = field(default_factory=dict)
    notes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for symbol, state in self.positions.items():
            if state.symbol != symbol:
                raise ValueError(f"risk book files {state.symbol}'s state under {symbol!r}")

    def to_json(self) -> str:
        payload = {
            "timestamp": self.timestamp.isoformat(),
            "positions": {s: p.to_dict() for s, p in sorted(self.positions.items())},
            "notes": self.notes,
        }
        try:
            return json.dumps(payload, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as error:
            raise ValueError(f"risk book at {self.timestamp} is not JSON-safe: {error}") from None

    @classmethod
    def from_json(cls, text: str) -> RiskBook:
        payload = json.loads(text)
        missing = sorted({"timestamp", "positions", "notes"} - set(payload))
        if missing:
            raise ValueError(f"risk book JSON lacks key(s) {missing}")
        return cls(
            timestamp=datetime.fromisoformat(payload["timestamp"]),
            positions={s: PositionRiskState.from_dict(p) for s, p in payload["positions"].items()},
            notes=payload["notes"],
        )
