"""The one trade-log schema and the one metrics schema of every run (run or wfv, event-driven
or vectorized), and strict JSON (no NaN: ``null``) for both."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import polars as pl

from quant_engine.evaluation.performance import performance_metrics
from quant_engine.portfolio.kernels import apply_fills_kernel

TRADE_COLUMNS = (
    "timestamp",  # when the fill happened (the bar it filled at)
    "decided_at",  # the bar whose close decided it
    "symbol",
    "side",  # buy or sell
    "quantity",  # shares, negative for sells
    "price",
    "notional",  # quantity x price
    "cost",
    "realized_pnl",  # average-cost PnL the fill closed, before costs
    "cum_realized_pnl",  # running sum of realized_pnl over the rows of this log
    "position",  # shares held after the fill
    "reason",  # entry, signal, stop_loss, take_profit, trailing_stop, time or drawdown_stop
)

PERFORMANCE_KEYS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "avg_daily_turnover",
    "hit_rate",
    "n_periods",
)


def strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` (valid, strict JSON)."""
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating):
        return float(value)
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """Strict JSON (``allow_nan=False``; non-finite floats become ``null``)."""
    return json.dumps(strict(value), allow_nan=False, default=str, **kwargs)


def run_metrics(
    returns: np.ndarray,
    turnover: np.ndarray | None,
    capital: float,
    trades: pl.DataFrame,
    n_bars: int,
) -> dict[str, float | None]:
    """Performance of the per-period net ``returns`` plus the run's accounting.

    ``final_equity`` is ``capital x (1 + total_return)``: the equity at the last fill point.
    Performance keys are ``None`` when there are fewer than two periods.
    """
    returns = np.asarray(returns, dtype=float)
    if returns.size >= 2:
        perf: dict[str, Any] = performance_metrics(returns, turnover)
    else:
        perf = dict.fromkeys(PERFORMANCE_KEYS)
    total = float(np.prod(1.0 + returns)) if returns.size else 1.0
    return strict(
        {
            **perf,
            "final_equity": capital * total,
            "realized_pnl": float(trades["realized_pnl"].sum()) if trades.height else 0.0,
            "costs_paid": float(trades["cost"].sum()) if trades.height else 0.0,
            "n_fills": float(trades.height),
            "n_bars": float(n_bars),
        }
    )


def empty_trades(timestamp_dtype: pl.DataType = pl.Int64) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "timestamp": timestamp_dtype,
            "decided_at": timestamp_dtype,
            "symbol": pl.String,
            "side": pl.String,
            **{c: pl.Float64 for c in TRADE_COLUMNS[4:-1]},
            "reason": pl.String,
        }
    )


def trade_frame(
    timestamp: list,
    decided_at: list,
    symbol: np.ndarray,
    quantity: np.ndarray,
    price: np.ndarray,
    cost: np.ndarray,
    realized_pnl: np.ndarray,
    position: np.ndarray,
    reason: np.ndarray | None = None,
) -> pl.DataFrame:
    """The trade table in the one schema; ``cum_realized_pnl`` is summed over its rows;
    ``reason`` defaults to :func:`entry_or_signal`."""
    return pl.DataFrame(
        {
            "timestamp": timestamp,
            "decided_at": decided_at,
            "symbol": symbol,
            "side": np.where(quantity > 0, "buy", "sell"),
            "quantity": quantity,
            "price": price,
            "notional": quantity * price,
            "cost": cost,
            "realized_pnl": realized_pnl,
            "cum_realized_pnl": np.cumsum(realized_pnl),
            "position": position,
            "reason": entry_or_signal(quantity, position) if reason is None else reason,
        }
    )


def entry_or_signal(quantity: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``entry`` for a fill that opened or added to a position, ``signal`` for one that
    reduced, closed or reversed it (``position`` is the shares after the fill)."""
    before = position - quantity
    opened = (position != 0) & (before * position >= 0) & (np.abs(position) > np.abs(before))
    return np.where(opened, "entry", "signal")


def with_running_pnl(trades: pl.DataFrame) -> pl.DataFrame:
    """``trades`` with ``cum_realized_pnl`` recomputed as the running sum of its own rows."""
    return trades.with_columns(pl.col("realized_pnl").cum_sum().alias("cum_realized_pnl"))


def trades_from_notional(
    notional: np.ndarray,
    prices: np.ndarray,
    costs: np.ndarray,
    timestamps: list,
    decided_at: list,
    symbols: list[str],
) -> pl.DataFrame:
    """Fills of a (trade dates x names) notional matrix at ``prices``, accounted like the
    simulator's book (average cost, sells before buys within a date)."""
    n_names = notional.shape[1]
    shares, avg_cost = np.zeros(n_names), np.zeros(n_names)
    realized, cash_flow = np.zeros(n_names), np.zeros(n_names)
    parts: dict[str, list] = {k: [] for k in ("row", "name", "qty", "px", "cost", "pnl", "pos")}
    for row in np.flatnonzero(np.any(notional != 0, axis=1)):
        traded = notional[row]
        order = np.concatenate([np.flatnonzero(traded < 0), np.flatnonzero(traded > 0)])
        qty = traded[order] / prices[row, order]
        pnl, pos = apply_fills_kernel(
            shares, avg_cost, realized, cash_flow, order, qty, prices[row, order], costs[row, order]
        )
        for key, values in (
            ("row", np.full(len(order), row)),
            ("name", order),
            ("qty", qty),
            ("px", prices[row, order]),
            ("cost", costs[row, order]),
            ("pnl", pnl),
            ("pos", pos),
        ):
            parts[key].append(values)
    if not parts["row"]:
        return empty_trades()
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return trade_frame(
        [timestamps[r] for r in cat["row"]],
        [decided_at[r] for r in cat["row"]],
        np.array(symbols)[cat["name"]],
        cat["qty"],
        cat["px"],
        cat["cost"],
        cat["pnl"],
        cat["pos"],
    )


def trade_lines(trades: pl.DataFrame) -> list[str]:
    """The rows of a trade table as strict JSON lines (timestamps as strings)."""
    stamps = ("timestamp", "decided_at")
    return [
        dumps({k: str(v) if k in stamps else v for k, v in row.items()})
        for row in trades.iter_rows(named=True)
    ]
