"""What a strategy sees at one decision time: bars up to now, holdings, cash and equity.

:class:`StrategyContext` drops every bar (and every equity point) stamped after its timestamp
when it is built, so nothing that reads the market through it (models, entry filters) can see
the future, whatever frame the caller hands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

import numpy as np
import polars as pl

REQUIRED_BAR_COLUMNS = ("symbol", "timestamp", "close")


@dataclass(frozen=True)
class Holding:
    """A position held in one symbol: signed quantity (negative is short) and its cost."""

    quantity: float
    average_price: float
    entries: int = 1  # open entries (grid levels) that make up the position
    last_entry_price: float | None = None  # price of the latest entry; defaults to average

    def __post_init__(self) -> None:
        if not np.isfinite(self.quantity):
            raise ValueError(f"holding quantity {self.quantity} is not finite")
        if not self.average_price > 0:
            raise ValueError(f"holding average price {self.average_price} must be positive")
        if self.entries < 0:
            raise ValueError(f"holding entries {self.entries} must be >= 0")

    @property
    def direction(self) -> int:
        """+1 long, -1 short, 0 flat."""
        return int(np.sign(self.quantity))

    @property
    def reference_price(self) -> float:
        """The latest entry price when known, else the average price."""
        return self.average_price if self.last_entry_price is None else self.last_entry_price


@dataclass(frozen=True)
class EntryCandidate:
    """A proposed entry: the symbol, its direction (+1 long, -1 short) and signal strength."""

    symbol: str
    direction: int
    strength: float = 1.0

    def __post_init__(self) -> None:
        if self.direction not in (1, -1):
            raise ValueError(f"entry in {self.symbol}: direction {self.direction} is not +1 or -1")

    @property
    def side(self) -> str:
        return "long" if self.direction > 0 else "short"


@dataclass(frozen=True)
class StrategyContext:
    """The state of the world at ``timestamp``, as known at that time.

    ``bars`` is a long frame (``symbol``, ``timestamp``, ``close`` and whatever else: open,
    high, low, volume, signal or regime columns); rows after ``timestamp`` are dropped.
    ``equity_curve`` (``timestamp``, ``equity``) is the portfolio's own history, also cut at
    ``timestamp``.
    """

    timestamp: datetime
    bars: pl.DataFrame
    holdings: Mapping[str, Holding] = field(default_factory=dict)
    cash: float = 0.0
    equity: float = 0.0
    equity_curve: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_BAR_COLUMNS if c not in self.bars.columns]
        if missing:
            raise ValueError(f"strategy context bars lack column(s) {missing}")
        for name, frame in (("bars", self.bars), ("equity curve", self.equity_curve)):
            if frame is None or "timestamp" not in frame.columns:
                continue
            dtype = frame.schema["timestamp"]
            frame_aware = isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
            if frame_aware != (self.timestamp.tzinfo is not None):
                raise ValueError(
                    f"context timestamp {self.timestamp} and the timestamps of the {name} "
                    f"({dtype}) must both carry a time zone or both not"
                )
        now = pl.lit(self.timestamp)
        object.__setattr__(
            self,
            "bars",
            self.bars.filter(pl.col("timestamp") <= now).sort("symbol", "timestamp"),
        )
        if self.equity_curve is not None:
            lacking = [c for c in ("timestamp", "equity") if c not in self.equity_curve.columns]
            if lacking:
                raise ValueError(f"equity curve lacks column(s) {lacking}")
            curve = self.equity_curve.filter(pl.col("timestamp") <= now).sort("timestamp")
            object.__setattr__(self, "equity_curve", curve)

    @cached_property
    def _by_symbol(self) -> dict[str, pl.DataFrame]:
        return {
            key[0]: frame
            for key, frame in self.bars.partition_by(
                "symbol", as_dict=True, maintain_order=True
            ).items()
        }

    @property
    def symbols(self) -> list[str]:
        """Symbols with at least one bar at or before the timestamp, sorted."""
        return sorted(self._by_symbol)

    def history(self, symbol: str) -> pl.DataFrame:
        """The bars of ``symbol`` up to the timestamp, oldest first (empty if none)."""
        frame = self._by_symbol.get(symbol)
        return self.bars.clear() if frame is None else frame

    def closes(self, symbol: str) -> np.ndarray:
        """Closing prices of ``symbol`` up to the timestamp, oldest first."""
        return self.history(symbol)["close"].to_numpy().astype(float)

    def price(self, symbol: str) -> float:
        """The latest close of ``symbol`` known at the timestamp."""
        closes = self.closes(symbol)
        if closes.size == 0:
            raise ValueError(f"no bar of {symbol!r} at or before {self.timestamp}")
        return float(closes[-1])

    def holding(self, symbol: str) -> Holding | None:
        """The open holding in ``symbol``, or None when flat."""
        held = self.holdings.get(symbol)
        return held if held is not None and held.quantity != 0 else None
