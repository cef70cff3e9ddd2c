"""The feature panel models read: one array of rows sorted by (symbol, timestamp).

Samples are row indices into it. Tabular models take the rows themselves; sequence models take
the ``lookback`` rows ending at each sample, gathered batch by batch, so the panel is never
copied once per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl


def is_sorted_by_key(frame: pl.DataFrame) -> bool:
    """Whether ``frame`` is sorted by (symbol, timestamp)."""
    return frame.select(
        pl.col("symbol").is_sorted() & pl.col("timestamp").is_sorted().over("symbol").all()
    ).item()


@dataclass(frozen=True)
class Panel:
    features: np.ndarray  # (rows, n_features) float32, NaN where unknown
    position: np.ndarray  # each row's position within its symbol: 0 for the first bar
    names: list[str]

    @classmethod
    def from_frame(cls, frame: pl.DataFrame, names: Sequence[str]) -> Panel:
        """Build from a frame sorted by (symbol, timestamp)."""
        if not is_sorted_by_key(frame):
            raise ValueError("the feature frame must be sorted by symbol, then timestamp")
        position = frame.select(pl.int_range(pl.len()).over("symbol"))
        return cls(
            # Cast column by column, so the panel never holds a float64 copy of the features.
            features=frame.select(pl.col(names).cast(pl.Float32)).to_numpy(),
            position=position.to_series().to_numpy(),
            names=list(names),
        )

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    def with_features(self, features: np.ndarray) -> Panel:
        """The same rows with other feature values (for perturbation tests)."""
        return Panel(features.astype(np.float32), self.position, self.names)

    def standardization(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature mean and deviation over the rows ``index`` (deviation 1 where constant)."""
        rows = self.rows(index).astype(np.float64)
        std = np.nanstd(rows, axis=0)
        return np.nanmean(rows, axis=0), np.where(std > 0, std, 1.0)

    def rows(self, index: np.ndarray) -> np.ndarray:
        """Feature rows of the samples, ``(n, n_features)``."""
        return self.features[index]

    def windows(self, index: np.ndarray, lookback: int) -> np.ndarray:
        """The ``lookback`` rows ending at each sample, ``(n, lookback, n_features)``.

        Steps before the symbol's first bar are NaN, so no window reaches into another symbol.
        """
        offsets = np.arange(1 - lookback, 1)
        gather = index[:, None] + offsets
        out = self.features[np.clip(gather, 0, None)]
        out[(offsets[None, :] + self.position[index][:, None]) < 0] = np.nan
        return out
