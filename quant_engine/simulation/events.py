"""Market events: one snapshot per timestamp carrying every symbol's bar, in strict time order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl


class LookaheadError(RuntimeError):
    """An event arrived at or before a timestamp the simulation has already processed."""


@dataclass(frozen=True, slots=True)
class BarSnapshot:
    """All symbols' bars at one timestamp (NaN where a symbol has no bar)."""

    index: int
    timestamp: Any
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


@dataclass(frozen=True)
class BarPanel:
    """Wide (timestamps x symbols) OHLCV arrays, the source of a snapshot stream."""

    timestamps: list
    symbols: list[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_bars(cls, bars: pl.DataFrame) -> BarPanel:
        """Pivot long bars (symbol, timestamp, open, high, low, close, volume) to a panel."""
        missing = {"symbol", "timestamp", "open", "high", "low", "close", "volume"} - set(
            bars.columns
        )
        if missing:
            raise ValueError(f"bars lack the columns {sorted(missing)}")
        symbols = sorted(bars["symbol"].unique().to_list())
        columns = {}
        timestamps: list = []
        for name in ("open", "high", "low", "close", "volume"):
            wide = (
                bars.pivot(on="symbol", index="timestamp", values=name)
                .sort("timestamp")
                .select("timestamp", *symbols)
            )
            timestamps = wide["timestamp"].to_list()
            columns[name] = np.ascontiguousarray(wide.select(symbols).to_numpy(), dtype=float)
        return cls(timestamps, symbols, **columns)

    @classmethod
    def from_arrays(
        cls,
        open_: np.ndarray,
        close: np.ndarray,
        timestamps: list | None = None,
        symbols: list[str] | None = None,
        volume: np.ndarray | None = None,
    ) -> BarPanel:
        """A panel from open and close arrays (high/low from them, unit volume if none)."""
        n_rows, n_cols = close.shape
        return cls(
            timestamps=list(range(n_rows)) if timestamps is None else list(timestamps),
            symbols=symbols or [f"S{i:03d}" for i in range(n_cols)],
            open=np.ascontiguousarray(open_, dtype=float),
            high=np.maximum(open_, close).astype(float),
            low=np.minimum(open_, close).astype(float),
            close=np.ascontiguousarray(close, dtype=float),
            volume=np.ones_like(close, dtype=float) if volume is None else volume.astype(float),
        )

    def __len__(self) -> int:
        return len(self.timestamps)

    def snapshots(self) -> Iterator[BarSnapshot]:
        """The stream of snapshots, oldest first."""
        for i, ts in enumerate(self.timestamps):
            yield BarSnapshot(
                i, ts, self.open[i], self.high[i], self.low[i], self.close[i], self.volume[i]
            )

    def window(self, start: int, stop: int) -> BarPanel:
        """Rows ``start:stop`` as a panel of their own."""
        rows = slice(start, stop)
        return BarPanel(
            self.timestamps[rows],
            self.symbols,
            self.open[rows],
            self.high[rows],
            self.low[rows],
            self.close[rows],
            self.volume[rows],
        )
