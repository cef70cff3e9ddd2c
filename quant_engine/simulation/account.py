"""What an account strategy sees at a bar's close: holdings, cash, equity, its curve, its fills.

The simulator keeps one :class:`Account` per run and updates it before each call of an
account strategy's hook (``on_close``); every table it hands out stops at the current bar, and
:meth:`Account.context` turns it into the :class:`~quant_engine.strategy.StrategyContext`
that entry filters and external models read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import polars as pl

from quant_engine.simulation.book import Book
from quant_engine.simulation.events import BarSnapshot
from quant_engine.strategy.context import Holding, StrategyContext
from quant_engine.strategy.exits import ExitRules
from quant_engine.strategy.model import Decisions, StrategyModel, run_model

FILL_COLUMNS = ("timestamp", "symbol", "quantity", "price", "cost", "reason")


class Account:
    """The simulated account as of the bar that just closed (read-only for strategies)."""

    def __init__(self, symbols: list[str], book: Book) -> None:
        self.symbols = list(symbols)
        self.index = {s: j for j, s in enumerate(symbols)}
        self._book = book
        self.timestamp: Any = None
        self.equity = book.cash
        self._curve: tuple[list, list] = ([], [])
        self._bars: list[BarSnapshot] = []
        self._fills: dict[str, list] = {k: [] for k in FILL_COLUMNS}
        self.entries = np.zeros(len(symbols), dtype=np.int64)  # open entries per symbol

    @property
    def cash(self) -> float:
        return self._book.cash

    @property
    def shares(self) -> np.ndarray:
        """Signed shares held per symbol (a copy)."""
        return self._book.shares.copy()

    def holdings(self) -> Mapping[str, Holding]:
        """Open positions by symbol, with their average cost and open entries."""
        book = self._book
        return {
            self.symbols[j]: Holding(
                float(book.shares[j]), float(book.avg_cost[j]), int(max(self.entries[j], 1))
            )
            for j in np.flatnonzero(book.shares)
        }

    @property
    def equity_curve(self) -> pl.DataFrame:
        """``timestamp, equity`` at each close so far, this one included."""
        return pl.DataFrame({"timestamp": self._curve[0], "equity": self._curve[1]})

    @property
    def fills(self) -> pl.DataFrame:
        """This run's fills so far: ``timestamp, symbol, quantity, price, cost, reason``."""
        return pl.DataFrame(self._fills, schema_overrides={"quantity": pl.Float64})

    def bars(self, rows: int | None = None) -> pl.DataFrame:
        """The last ``rows`` bars (all when None) as a long frame, symbols without a bar left
        out: ``symbol, timestamp, open, high, low, close, volume``."""
        snapshots = self._bars if rows is None else self._bars[-rows:]
        n = len(self.symbols)
        stacked = {
            name: np.concatenate([getattr(b, name) for b in snapshots])
            for name in ("open", "high", "low", "close", "volume")
        }
        frame = pl.DataFrame(
            {
                "symbol": self.symbols * len(snapshots),
                "timestamp": [b.timestamp for b in snapshots for _ in range(n)],
                **stacked,
            }
        )
        return frame.filter(pl.col("close").is_not_nan())

    def context(self, rows: int | None = None) -> StrategyContext:
        """The strategy context at this close over the last ``rows`` bars."""
        return StrategyContext(
            timestamp=self.timestamp,
            bars=self.bars(rows),
            holdings=self.holdings(),
            cash=self.cash,
            equity=self.equity,
            equity_curve=self.equity_curve,
        )

    def record_close(self, bar: BarSnapshot, equity: float) -> None:
        """The simulator's update at a close (before the strategy's hook)."""
        self.timestamp = bar.timestamp
        self.equity = equity
        self._bars.append(bar)
        self._curve[0].append(bar.timestamp)
        self._curve[1].append(equity)

    def record_fills(
        self,
        ts: Any,
        names: np.ndarray,
        quantity: np.ndarray,
        after: np.ndarray,
        price: np.ndarray,
        cost: np.ndarray,
        reasons: np.ndarray,
    ) -> None:
        """Record fills; a fill that opens or reverses a position is its first entry, one
        that adds to it another entry, one that closes it leaves none."""
        before = after - quantity
        opened = (after != 0) & (before * after <= 0)
        added = (before * after > 0) & (np.abs(after) > np.abs(before))
        self.entries[names] = np.where(
            after == 0, 0, np.where(opened, 1, self.entries[names] + added)
        )
        for k, j in enumerate(names.tolist()):
            self._fills["timestamp"].append(ts)
            self._fills["symbol"].append(self.symbols[j])
            self._fills["quantity"].append(float(quantity[k]))
            self._fills["price"].append(float(price[k]))
            self._fills["cost"].append(float(cost[k]))
            self._fills["reason"].append(str(reasons[k]))


@runtime_checkable
class AccountStrategy(Protocol):
    """A strategy that decides from the account: called at each bar's close with the bar and
    the :class:`Account`, it returns :class:`~quant_engine.strategy.Decisions` (target
    weights and orders) for the next fill, or None. ``exits`` (or None) are the stop-loss,
    take-profit, trailing-stop and time rules the simulator applies to its positions inside
    each bar."""

    exits: ExitRules | None

    def start(self, symbols: list[str]) -> None: ...

    def on_close(self, bar: BarSnapshot, account: Account) -> Decisions | None: ...


@dataclass(frozen=True)
class ModelStrategy:
    """Runs an external :class:`~quant_engine.strategy.StrategyModel` in the simulator: its
    ``decide`` gets the context of the last ``history`` bars (all when None) at each close,
    and its decisions are checked (:func:`~quant_engine.strategy.run_model`) and executed;
    ``exits`` guard the positions inside each bar."""

    model: StrategyModel
    exits: ExitRules | None = None
    history: int | None = None

    def start(self, symbols: list[str]) -> None:
        pass

    def on_close(self, bar: BarSnapshot, account: Account) -> Decisions | None:
        return run_model(self.model, account.context(self.history))
