"""Cash, positions and equity, with average-cost realized PnL on every fill."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from quant_engine.portfolio import BookState
from quant_engine.portfolio.kernels import apply_fills_kernel
from quant_engine.simulation.kernels import book_value, fill_sums


@dataclass(frozen=True)
class Fills:
    """The fills of one execution event, in the order they were applied (sells first)."""

    names: np.ndarray  # symbol indices
    quantity: np.ndarray  # shares, negative for sells
    price: np.ndarray
    cost: np.ndarray
    realized_pnl: np.ndarray  # average-cost PnL closed by each fill, before costs
    position: np.ndarray  # shares held after the fill


class Book:
    """The simulated account: one cash balance, per-name shares, average cost and cash flow."""

    def __init__(self, n_names: int, capital: float) -> None:
        self.capital = capital
        self.cash = capital
        self.shares = np.zeros(n_names)
        self.avg_cost = np.zeros(n_names)
        self.realized = np.zeros(n_names)  # cumulative realized PnL per name, before costs
        self.cash_flow = np.zeros(n_names)  # cash each name has paid in (-) or out (+), net
        self.costs_paid = 0.0

    def equity(self, prices: np.ndarray) -> float:
        return self.cash + book_value(self.shares, prices)

    def state(self, prices: np.ndarray, per_symbol: bool = True) -> BookState:
        """The view the decision core rebalances from, marked at ``prices`` (with sleeves)."""
        if not per_symbol:
            return BookState(self.shares, self.cash)
        sleeves = self.capital / len(self.shares) + self.cash_flow + self.shares * prices
        return BookState(self.shares, self.cash, sleeves)

    def apply(
        self, names: np.ndarray, quantity: np.ndarray, price: np.ndarray, cost: np.ndarray
    ) -> Fills:
        """Fill ``quantity`` of ``names`` at ``price``, paying ``cost``."""
        realized, after = apply_fills_kernel(
            self.shares, self.avg_cost, self.realized, self.cash_flow, names, quantity, price, cost
        )
        net, _, paid = fill_sums(quantity, price, cost)
        self.cash -= net + paid
        self.costs_paid += paid
        return Fills(names, quantity, price, cost, realized, after)
