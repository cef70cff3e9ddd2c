"""Rolling volatility and dollar ADV, updated bar by bar from data already seen."""

from __future__ import annotations

import numpy as np

from quant_engine.simulation.kernels import rolling_risk_step


class RollingRisk:
    """Daily log-return volatility and mean dollar volume over each symbol's last ``window``
    own bars.

    Matches :class:`quant_engine.backtest.MarketPanel`: NaN until a symbol's window is full; a
    missing bar is skipped (the return spans the gap) and the last values are kept meanwhile.
    """

    def __init__(self, window: int, n_names: int) -> None:
        self.window = window
        self._returns = np.full((window, n_names), np.nan)
        self._dollars = np.full((window, n_names), np.nan)
        self._log_close = np.full(n_names, np.nan)
        self._seen = np.zeros(n_names, dtype=np.int64)
        self.sigma = np.full(n_names, np.nan)
        self.adv = np.full(n_names, np.nan)

    def update(self, close: np.ndarray, volume: np.ndarray) -> None:
        rolling_risk_step(
            self._returns,
            self._dollars,
            self._log_close,
            self._seen,
            self.sigma,
            self.adv,
            np.asarray(close, dtype=float),
            np.asarray(volume, dtype=float),
            self.window,
        )
