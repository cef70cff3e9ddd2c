"""The canonical bar schema and its validator.

A bar frame is long: one row per (symbol, timestamp), timestamps in UTC. A daily bar's
timestamp labels its trading session; its values are known only after that session's close.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

BAR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
}
BAR_COLUMNS: list[str] = list(BAR_SCHEMA)
KEYS: list[str] = ["symbol", "timestamp"]  # one row per symbol and timestamp
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
ROW = "_row"
SOURCE = "_source"  # index into validate_bars' ``sources``: which file a row came from


class BarValidationError(ValueError):
    """Bad bar data, located by source (file), row, column and value."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: Any = None,
        more: int = 0,
    ) -> None:
        self.source, self.problem, self.row, self.column, self.value = (
            source,
            problem,
            row,
            column,
            value,
        )
        where = [source]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        message = ", ".join(where) + f": {problem}"
        if more:
            message += f" ({more} more row{'s' if more > 1 else ''} with the same problem)"
        super().__init__(message)


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# Each rule: (column named in the error, boolean expression marking bad rows, message builder).
_Rule = tuple[str, pl.Expr, Callable[[dict[str, Any]], str]]


def _rules() -> list[_Rule]:
    rules: list[_Rule] = [
        (c, pl.col(c).is_null(), lambda r, c=c: "missing value") for c in BAR_COLUMNS
    ]
    rules += [
        (
            c,
            ~pl.col(c).is_finite() | (pl.col(c) <= 0),
            lambda r, c=c: f"value {_fmt(r[c])} is not a positive finite price",
        )
        for c in PRICE_COLUMNS
    ]
    rules += [
        (
            "volume",
            ~pl.col("volume").is_finite() | (pl.col("volume") < 0),
            lambda r: f"value {_fmt(r['volume'])} is not a non-negative finite volume",
        ),
        (
            "high",
            pl.col("high") < pl.col("low"),
            lambda r: f"high {r['high']} is below low {r['low']}",
        ),
    ]
    rules += [
        (
            c,
            (pl.col(c) < pl.col("low")) | (pl.col(c) > pl.col("high")),
            lambda r, c=c: f"{c} {r[c]} is outside [low {r['low']}, high {r['high']}]",
        )
        for c in ("open", "close")
    ]
    rules += [
        (
            "timestamp",
            ~pl.col("timestamp").is_first_distinct().over("symbol"),
            lambda r: f"duplicate timestamp {r['timestamp']}",
        ),
        (
            "timestamp",
            pl.col("timestamp") < pl.col("timestamp").shift(1).over("symbol"),
            lambda r: f"timestamp {r['timestamp']} is earlier than the row before it",
        ),
    ]
    return rules


def validate_bars(
    frame: pl.DataFrame, source: str = "bars", sources: Sequence[str] | None = None
) -> pl.DataFrame:
    """Check ``frame`` against the bar schema and rules; return it canonical and sorted.

    Raises :class:`BarValidationError` naming the first offending row (1-based, in the
    frame's order or its ``_row`` column), the column and the value; with ``sources``, the
    frame's ``_source`` column names each row's file (an index into ``sources``).
    """
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise BarValidationError(source, f"missing column(s) {', '.join(repr(c) for c in missing)}")
    if frame.height == 0:
        raise BarValidationError(source, "no data rows")
    if ROW not in frame.columns:
        frame = frame.with_row_index(ROW, offset=1)
    frame = frame.with_columns(
        pl.col("symbol").cast(pl.String),
        pl.col("timestamp").cast(BAR_SCHEMA["timestamp"]),
        *(pl.col(c).cast(pl.Float64) for c in (*PRICE_COLUMNS, "volume")),
    )
    for column, is_bad, describe in _rules():
        bad = frame.filter(is_bad.fill_null(False))
        if bad.height:
            order = [SOURCE, ROW] if sources is not None else [ROW]
            first = bad.sort(order).row(0, named=True)
            if sources is not None:
                source = sources[first[SOURCE]]
                bad = bad.filter(pl.col(SOURCE) == first[SOURCE])
            raise BarValidationError(
                source,
                describe(first),
                row=first[ROW],
                column=column,
                value=first[column],
                more=bad.height - 1,
            )
    return frame.select(BAR_COLUMNS).sort("symbol", "timestamp")
