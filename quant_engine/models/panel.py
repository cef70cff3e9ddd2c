"""The feature panel models read: one array of rows sorted by (symbol, timestamp).

Samples are row indices into it. Tabular models take the rows themselves; sequence models take
the ``lookback`` rows ending at each sample, gathered batch by batch, so the panel is never
copied once per sample. ``Panel.read`` assembles it from stored parts without a frame copy of
the features beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from quant_engine.data.schema import KEYS


def _positions(frame: pl.DataFrame) -> np.ndarray:
    """Each row's position within its symbol (rows sorted by symbol, timestamp)."""
    return frame.select(pl.int_range(pl.len()).over("symbol")).to_series().to_numpy()


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
        return cls._of(frame, names)

    @classmethod
    def sorted_from_frame(
        cls, frame: pl.DataFrame, names: Sequence[str]
    ) -> tuple[pl.DataFrame, Panel]:
        """``frame`` sorted by (symbol, timestamp) and its panel; sorting copies every column,
        so a sorted frame is kept as it is."""
        if not is_sorted_by_key(frame):
            frame = frame.sort("symbol", "timestamp")
        return frame, cls._of(frame, names)

    @classmethod
    def _of(cls, frame: pl.DataFrame, names: Sequence[str]) -> Panel:
        return cls(
            # Cast column by column, so the panel never holds a float64 copy of the features.
            features=frame.select(pl.col(names).cast(pl.Float32)).to_numpy(),
            position=_positions(frame),
            names=list(names),
        )

    @classmethod
    def read(
        cls, parts: Sequence[pl.LazyFrame], names: Sequence[str]
    ) -> tuple[pl.DataFrame, Panel]:
        """The rows of ``parts`` (read in turn) sorted by (symbol, timestamp), and their panel,
        holding the features once.

        The float32 matrix is filled one part at a time; the frame's ``names`` columns are
        views of its columns (NaN read as null), its other columns are its own. Peak: the
        matrix, the other columns and one part.
        """
        if not parts:
            raise ValueError("no parts to read a panel from")
        keys = pl.concat([part.select(*KEYS) for part in parts]).collect()
        order = keys.with_row_index("_row").sort(KEYS)["_row"].to_numpy()
        del keys
        sorted_at = np.empty_like(order)
        sorted_at[order] = np.arange(order.size)
        matrix = np.empty((order.size, len(names)), dtype=np.float32, order="F")
        start = 0
        for part in parts:
            chunk = part.select(names).collect()
            rows = sorted_at[start : start + chunk.height]
            for j, name in enumerate(names):
                matrix[rows, j] = chunk[name].cast(pl.Float32).to_numpy()
            start += chunk.height
            del chunk
        del sorted_at
        others = pl.concat([part.drop(names) for part in parts]).collect()
        others = others.select(pl.all().gather(order))
        views = [pl.Series(name, matrix[:, j], nan_to_null=True) for j, name in enumerate(names)]
        columns = parts[0].collect_schema().names()
        frame = pl.DataFrame([*others.get_columns(), *views]).select(columns)
        return frame, cls(matrix, _positions(frame), list(names))

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
