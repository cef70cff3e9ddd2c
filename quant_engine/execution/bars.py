"""Execute a parent order's children against one symbol's bars, slot by slot.

The parent arrives at the close of its ``start`` bar (the arrival price) and trades in the next
``n_slots`` bars that exist. Before each bar the algorithm sizes the child from earlier bars
only; the child then trades at that bar's reference price plus impact, and pays commission.
Volatility and average daily volume are estimated from the bars up to the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from quant_engine.execution.algorithms import ExecutionAlgorithm, SliceContext
from quant_engine.execution.commission import CommissionModel
from quant_engine.execution.impact import BarState, Impact, ImpactModel
from quant_engine.execution.report import CHILD_COLUMNS, ExecutionReport, ParentOrder

FILL_PRICES = ("open", "typical", "close")
BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


def reference_price(open_: Any, high: Any, low: Any, close: Any, kind: str) -> Any:
    """A child's reference price in its bar (scalars or arrays): ``open``, ``close`` or
    ``typical`` ((high + low + close) / 3)."""
    if kind == "open":
        return open_
    if kind == "close":
        return close
    return (high + low + close) / 3.0


@dataclass(frozen=True)
class BarExecutionConfig:
    """``fill_price``: a child's reference price in its bar: ``open``, ``close`` or ``typical``
    ((high + low + close) / 3, a stand-in for the bar's VWAP). ``estimate_window``: bars up to
    the start used for the volatility and average volume estimates."""

    n_slots: int = 5
    fill_price: str = "typical"
    estimate_window: int = 20

    def __post_init__(self) -> None:
        if self.fill_price not in FILL_PRICES:
            raise ValueError(f"fill_price must be one of {FILL_PRICES}, got {self.fill_price!r}")
        if self.n_slots < 1 or self.estimate_window < 2:
            raise ValueError(f"need n_slots >= 1 and estimate_window >= 2: {self}")


@dataclass(frozen=True)
class SymbolBars:
    """One symbol's bars as arrays, in strictly increasing time."""

    symbol: str
    times: pl.Series  # the timestamps as given (for reports)
    timestamp: np.ndarray  # the same as numpy values (for searching)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_frame(cls, bars: pl.DataFrame, symbol: str) -> SymbolBars:
        missing = [c for c in (*BAR_COLUMNS, "symbol") if c not in bars.columns]
        if missing:
            raise ValueError(f"bars lack columns {missing}")
        rows = bars.filter(pl.col("symbol") == symbol)
        if rows.height == 0:
            raise ValueError(f"no bars for symbol {symbol!r}")
        times = rows["timestamp"]
        ts = times.to_numpy()
        bad = np.flatnonzero(ts[1:] <= ts[:-1])
        if len(bad):
            row = int(bad[0]) + 1
            raise ValueError(
                f"bars of {symbol!r} are not in strictly increasing time at row {row}: {times[row]}"
            )
        return cls(
            symbol,
            times,
            ts,
            *(rows[c].cast(pl.Float64).to_numpy() for c in ("open", "high", "low", "close")),
            rows["volume"].cast(pl.Float64).to_numpy(),
        )

    def reference_price(self, i: int, kind: str) -> float:
        return float(reference_price(self.open[i], self.high[i], self.low[i], self.close[i], kind))

    def index_of(self, ts: object) -> int:
        """Position of the bar at ``ts`` (a value of ``times``, or its numpy form)."""
        if isinstance(ts, datetime) and ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        value = np.asarray(ts, dtype=self.timestamp.dtype)
        i = int(np.searchsorted(self.timestamp, value))
        if i >= len(self.timestamp) or self.timestamp[i] != value:
            raise ValueError(f"start {ts} is not a bar of {self.symbol!r}")
        return i


def pre_trade_estimates(bars: SymbolBars, start: int, window: int) -> tuple[float, float]:
    """(daily volatility, average daily volume) from the ``window`` bars ending at ``start``."""
    lo = max(0, start - window + 1)
    if start - lo < 1:
        raise ValueError(f"{bars.symbol!r}: need at least 2 bars up to the start, have {start + 1}")
    closes = bars.close[lo : start + 1]
    sigma = float(np.std(np.diff(np.log(closes)), ddof=1)) if len(closes) > 2 else 0.0
    adv = float(np.mean(bars.volume[lo : start + 1]))
    if adv <= 0:
        raise ValueError(f"{bars.symbol!r}: no volume in the {window} bars up to the start")
    return sigma, adv


def run_on_bars(
    parent: ParentOrder,
    bars: SymbolBars,
    algorithm: ExecutionAlgorithm,
    impact: ImpactModel,
    commission: CommissionModel,
    config: BarExecutionConfig | None = None,
) -> ExecutionReport:
    """Trade ``parent`` over the ``config.n_slots`` bars after its start."""
    config = config or BarExecutionConfig()
    start = bars.index_of(parent.start)
    first, end = start + 1, start + 1 + config.n_slots
    if end > len(bars.timestamp):
        raise ValueError(
            f"{bars.symbol!r}: {config.n_slots} bars needed after {parent.start}, "
            f"{len(bars.timestamp) - first} exist"
        )
    sigma, adv = pre_trade_estimates(bars, start, config.estimate_window)
    remaining, traded, shift = parent.quantity, 0, 0.0
    rows: dict[str, list] = {name: [] for name in CHILD_COLUMNS}
    for slot, i in enumerate(range(first, end)):
        ctx = SliceContext(slot, config.n_slots, parent.quantity, remaining, bars.volume[:i], first)
        child = algorithm.child_qty(ctx)
        if not 0 <= child <= remaining:
            raise ValueError(f"{algorithm.name} sized a child of {child} with {remaining} left")
        reference = bars.reference_price(i, config.fill_price)
        state = BarState(reference, float(bars.volume[i]), sigma, adv)
        hit = impact.impact(child, state) if child else Impact(0, 0.0, 0.0)
        price = reference * (1.0 + parent.sign * (hit.temporary + shift + hit.permanent))
        shift += hit.permanent
        fee = commission.commission(hit.filled, price, traded)
        traded += hit.filled
        remaining -= hit.filled
        for name, value in zip(
            CHILD_COLUMNS, (child, hit.filled, reference, price, fee), strict=True
        ):
            rows[name].append(value)
    children = pl.DataFrame(rows, schema=CHILD_COLUMNS).insert_column(
        0, bars.times[first:end].alias("timestamp")
    )
    return ExecutionReport(
        algorithm.name, parent, float(bars.close[start]), float(bars.close[end - 1]), children
    )
