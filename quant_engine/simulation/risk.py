"""Rolling volatility and dollar ADV, updated bar by bar from data already seen."""

from __future__ import annotations

import numpy as np


class RollingRisk:
    """Daily log-return volatility and mean dollar volume over the last ``window`` bars.

    Matches :class:`quant_engine.backtest.MarketPanel`: NaN until the window is full (or while
    it holds a missing bar).
    """

    def __init__(self, window: int, n_names: int) -> None:
        self.window = window
        self._returns = np.full((window, n_names), np.nan)
        self._dollars = np.full((window, n_names), np.nan)
        self._log_close = np.full(n_names, np.nan)
        self._seen = 0
        self.sigma = np.full(n_names, np.nan)
        self.adv = np.full(n_names, np.nan)

    def update(self, close: np.ndarray, volume: np.ndarray) -> None:
        slot = self._seen % self.window
        log_close = np.log(close)
        self._returns[slot] = log_close - self._log_close
        self._dollars[slot] = close * volume
        self._log_close = log_close
        self._seen += 1
        self.adv = self._dollars.sum(axis=0) / self.window
        self.sigma = self._returns.std(axis=0, ddof=1)
