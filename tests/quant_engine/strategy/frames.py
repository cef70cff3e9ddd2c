"""Small hand-made bar frames for the strategy tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

START = datetime(2024, 1, 1, tzinfo=UTC)


def at(step: int, every: timedelta = timedelta(days=1)) -> datetime:
    """The timestamp of bar number ``step``."""
    return START + step * every


def bars_from_closes(
    closes: Mapping[str, Sequence[float]],
    every: timedelta = timedelta(days=1),
    **extra: Mapping[str, Sequence[object]],
) -> pl.DataFrame:
    """A long bar frame (symbol, timestamp, close and any ``extra`` columns per symbol)."""
    frames = []
    for symbol, values in closes.items():
        columns = {
            "symbol": [symbol] * len(values),
            "timestamp": [at(i, every) for i in range(len(values))],
            "close": [float(v) for v in values],
        }
        for name, per_symbol in extra.items():
            columns[name] = list(per_symbol[symbol])
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames, how="diagonal")
