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
from typing import Any

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
    ``cost``, ``position`` and ``reason``) over the run's bar ``timestamps``."""
    stamps = list(timestamps)
    index = {ts: k for k, ts in enumerate(stamps)}
    dtype = fills.schema.get("timestamp", pl.Int64)
    rows: dict[str, list] = {c: [] for c in ROUND_TRIP_COLUMNS}
    lots: dict[str, deque] = {}
    has = set(fills.columns)
    columns = [
        fills["timestamp"].to_list(),
        fills["symbol"].to_list(),
        fills["quantity"].to_list(),
        fills["price"].to_list(),
        fills["cost"].to_list() if "cost" in has else [0.0] * fills.height,
        fills["position"].to_list() if "position" in has else [None] * fills.height,
        fills["reason"].to_list() if "reason" in has else [None] * fills.height,
    ]

    def emit(lot: list, quantity: float, ts: Any, price: float, cost: float, reason: str):
        entry_ts, entry_price, _, entry_cost_per_share, symbol = lot
        sign = 1.0 if lot[2] > 0 else -1.0
        piece_cost = (entry_cost_per_share + cost) * quantity
        pnl = sign * (price - entry_price) * quantity - piece_cost
        rows["symbol"].append(symbol)
        rows["side"].append("long" if sign > 0 else "short")
        rows["quantity"].append(quantity)
        rows["entry_time"].append(entry_ts)
        rows["entry_price"].append(entry_price)
        rows["exit_time"].append(ts)
        rows["exit_price"].append(price)
        rows["bars_held"].append(index[ts] - index[entry_ts])
        rows["cost"].append(piece_cost)
        rows["pnl"].append(pnl)
        rows["return"].append(pnl / (entry_price * quantity))
        rows["exit_reason"].append(reason)

    for ts, symbol, qty, price, cost, position, reason in zip(*columns, strict=True):
        if qty == 0:
            continue
        if ts not in index:
            raise ValueError(f"fills: timestamp {ts} of a {symbol} fill is not a bar of the run")
        book = lots.setdefault(symbol, deque())
        per_share = (cost or 0.0) / abs(qty)
        left = abs(qty)
        while left > 0 and book and (book[0][2] > 0) != (qty > 0):
            lot = book[0]
            matched = min(left, abs(lot[2]))
            emit(lot, matched, ts, price, per_share, reason or "signal")
            left -= matched
            lot[2] -= np.sign(lot[2]) * matched
            if abs(lot[2]) <= _TOLERANCE * matched:
                book.popleft()
        if position == 0:  # flat after the fill: residues of float rounding are not lots
            book.clear()
        elif left > _TOLERANCE * abs(qty):
            book.append([ts, price, left if qty > 0 else -left, per_share, symbol])
    last = len(stamps) - 1
    for book in lots.values():
        for entry_ts, entry_price, quantity, per_share, symbol in book:
            rows["symbol"].append(symbol)
            rows["side"].append("long" if quantity > 0 else "short")
            rows["quantity"].append(abs(quantity))
            rows["entry_time"].append(entry_ts)
            rows["entry_price"].append(entry_price)
            rows["exit_time"].append(None)
            rows["exit_price"].append(None)
            rows["bars_held"].append(last - index[entry_ts])
            rows["cost"].append(per_share * abs(quantity))
            rows["pnl"].append(None)
            rows["return"].append(None)
            rows["exit_reason"].append("open")
    frame = pl.DataFrame(rows, schema=round_trip_schema(dtype))
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
            "symbol": np.tile(np.array(symbols, dtype=str), t),
            "score": scores.ravel(),
            "eligible": eligible.ravel(),
        }
    ).with_columns(pl.col("score").fill_nan(None))
