"""A run's tables as Parquet: the per-bar table, the signals, the fills and the round trips.

Round trips are built from the fills by FIFO matching per symbol: a fill against the open
position closes its oldest lots first (a partial close splits a lot), and what is left of a
fill that reverses the position opens a new lot on the other side. Each matched piece is one
row of :data:`ROUND_TRIP_SCHEMA`; its ``cost`` is its share (by quantity) of the costs of its
entry and exit fills, and ``pnl`` is after that cost. The exit reason is the closing fill's
``reason`` column when the fills have one, else ``signal``; a lot still open after the last
fill is a row with ``exit_reason`` ``open`` and no exit, PnL or return.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import polars as pl

ROUND_TRIP_COLUMNS = (
    "symbol",
    "side",  # long or short
    "quantity",  # shares, positive
    "entry_time",  # the bar of the entry fill
    "entry_price",
    "exit_time",  # the bar of the exit fill; null while open
    "exit_price",
    "bars_held",  # bars from the entry fill to the exit fill (to the last bar while open)
    "cost",  # this piece's share of its entry and exit fills' costs
    "pnl",  # (exit - entry) x quantity (short: the other way round), after cost
    "return",  # pnl / (entry_price x quantity)
    "exit_reason",  # the closing fill's reason (signal, stop_loss, ...), or open
)
_TOLERANCE = 1e-9  # a lot smaller than this share of its original size is closed


def round_trip_schema(timestamp_dtype: pl.DataType) -> dict[str, pl.DataType]:
    """The round-trip table's columns and types (``timestamp_dtype``: the bars' timestamps)."""
    return {
        "symbol": pl.String,
        "side": pl.String,
        "quantity": pl.Float64,
        "entry_time": timestamp_dtype,
        "entry_price": pl.Float64,
        "exit_time": timestamp_dtype,
        "exit_price": pl.Float64,
        "bars_held": pl.Int64,
        "cost": pl.Float64,
        "pnl": pl.Float64,
        "return": pl.Float64,
        "exit_reason": pl.String,
    }


def round_trips(fills: pl.DataFrame, timestamps: list | pl.Series) -> pl.DataFrame:
    """FIFO round trips of ``fills`` (``timestamp, symbol, quantity, price``, optional
    ``cost``, ``position`` and ``reason``) over the run's bar ``timestamps`` (increasing)."""
    stamps = pl.Series("timestamp", timestamps)
    if fills.height:
        stamps = stamps.cast(fills.schema["timestamp"])
    found = stamps.search_sorted(fills["timestamp"]).clip(0, max(len(stamps) - 1, 0))
    off = (
        fills["timestamp"].ne_missing(stamps.gather(found))
        if len(stamps)
        else pl.repeat(True, fills.height, eager=True)  # no bars: no fill is at one
    )
    if off.any():
        row = int(off.arg_max())
        raise ValueError(
            f"fills: timestamp {fills['timestamp'][row]} of a {fills['symbol'][row]} fill is "
            "not a bar of the run"
        )
    has = set(fills.columns)
    columns = [
        found.to_list(),
        fills["symbol"].to_list(),
        fills["quantity"].to_list(),
        fills["price"].to_list(),
        fills["cost"].to_list() if "cost" in has else [0.0] * fills.height,
        fills["position"].to_list() if "position" in has else [None] * fills.height,
        fills["reason"].to_list() if "reason" in has else [None] * fills.height,
    ]
    # a lot: [entry bar, entry price, signed shares left, entry cost per share, symbol]
    pieces: list[tuple] = []  # (symbol, sign, shares, entry bar, entry price, exit bar, ...)
    lots: dict[str, deque] = {}
    for bar, symbol, qty, price, cost, position, reason in zip(*columns, strict=True):
        if qty == 0:
            continue
        book = lots.setdefault(symbol, deque())
        per_share = (cost or 0.0) / abs(qty)
        left = abs(qty)
        while left > 0 and book and (book[0][2] > 0) != (qty > 0):
            lot = book[0]
            matched = min(left, abs(lot[2]))
            sign = 1.0 if lot[2] > 0 else -1.0
            pieces.append(
                (symbol, sign, matched, lot[0], lot[1], bar, price, lot[3] + per_share, reason)
            )
            left -= matched
            lot[2] -= sign * matched
            if abs(lot[2]) <= _TOLERANCE * matched:
                book.popleft()
        if position == 0:  # flat after the fill: residues of float rounding are not lots
            book.clear()
        elif left > _TOLERANCE * abs(qty):
            book.append([bar, price, left if qty > 0 else -left, per_share, symbol])
    for book in lots.values():
        for bar, entry_price, shares, per_share, symbol in book:
            sign = 1.0 if shares > 0 else -1.0
            pieces.append(
                (symbol, sign, abs(shares), bar, entry_price, None, None, per_share, "open")
            )
    schema = round_trip_schema(stamps.dtype)
    if not pieces:
        return pl.DataFrame(schema=schema)
    symbol, sign, shares, entry, entry_price, exit_, exit_price, per_share, reason = map(
        list, zip(*pieces, strict=True)
    )
    frame = pl.DataFrame(
        {
            "symbol": symbol,
            "sign": sign,
            "quantity": shares,
            "entry": entry,
            "entry_price": entry_price,
            "exit": pl.Series(exit_, dtype=pl.Int64),
            "exit_price": pl.Series(exit_price, dtype=pl.Float64),
            "per_share": per_share,
            "reason": pl.Series(reason, dtype=pl.String),
        }
    )
    last = len(stamps) - 1
    cost = pl.col("per_share") * pl.col("quantity")
    pnl = pl.col("sign") * (pl.col("exit_price") - pl.col("entry_price")) * pl.col("quantity")
    frame = frame.select(
        "symbol",
        pl.when(pl.col("sign") > 0).then(pl.lit("long")).otherwise(pl.lit("short")).alias("side"),
        "quantity",
        pl.lit(stamps).gather(pl.col("entry")).alias("entry_time"),
        "entry_price",
        pl.lit(stamps).gather(pl.col("exit")).alias("exit_time"),
        "exit_price",
        (pl.col("exit").fill_null(last) - pl.col("entry")).alias("bars_held"),
        cost.alias("cost"),
        (pnl - cost).alias("pnl"),
        ((pnl - cost) / (pl.col("entry_price") * pl.col("quantity"))).alias("return"),
        pl.col("reason").fill_null("signal").alias("exit_reason"),
    )
    frame = frame.cast(schema)  # type: ignore[arg-type]
    return frame.sort("entry_time", "symbol", "exit_time", nulls_last=True, maintain_order=True)


def signal_table(
    timestamps: pl.Series, symbols: list[str], scores: np.ndarray, eligible: np.ndarray
) -> pl.DataFrame:
    """The long ``timestamp, symbol, score, eligible`` table of a (decisions x symbols) matrix
    of scores (a row per decision the strategy made, a column per symbol; NaN: null)."""
    n, t = len(symbols), len(timestamps)
    scores = np.asarray(scores, dtype=float).reshape(t, n)
    eligible = np.asarray(eligible, dtype=bool).reshape(t, n)
    return pl.DataFrame(
        {
            "timestamp": timestamps.gather(np.repeat(np.arange(t), n)),
            "symbol": pl.Series(symbols, dtype=pl.String).gather(np.tile(np.arange(n), t)),
            "score": scores.ravel(),
            "eligible": eligible.ravel(),
        }
    ).with_columns(pl.col("score").fill_nan(None))
