"""Execution inside the event-driven simulator: the run's orders worked over the next bars.

With an :class:`ExecutionConfig` (the run config's ``exec:`` section) each rebalance's trade
for a name becomes a *parent order*, decided at a close and started at the next bar. In every
bar where its name trades, the algorithm (TWAP, VWAP, POV or Almgren-Chriss implementation
shortfall, :mod:`quant_engine.execution.algorithms`) sizes one child from what is known before
that bar: the parent's remainder and the volumes of the name's earlier bars. The child then
fills in that bar, at its reference price (``fill_price``) and the run's :class:`CostModel`
cost (``venue: bars``), or as a market order through a limit order book built for the bar and
reached through latency (``venue: book``). Children fill into the simulator's own book, so
cash, positions, equity and the trade log are the executed ones.

A decision made while parents are working plans from the book as it will be once they are done
(shares held plus what remains to fill). A trade in the same direction adds a parent; one in the
other direction first takes what it needs off the name's working parents (newest first; what is
taken off is cancelled) and the rest, if any, is a new parent. Trades below the schedules'
quantum (a millionth of a share) are not sent. A parent ends ``filled``, ``cancelled``,
``incomplete`` (its slots are over with shares left: only on the book) or ``open`` (the run
ended first).

Every parent reports its implementation shortfall (Perold) against the decision price (the
close it was decided at) and against the arrival price (the open of its first bar, where the
plain simulator fills it whole): what the fills paid above it, their costs, and the opportunity
cost of what was not filled (cancelled shares at the open where they were cancelled, shares left
at the close of the last slot or the last mark). Next to it, the shortfall of the plain fill of
the same parent: the move from the decision price to the open plus the cost model's cost of the
whole order there.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from quant_engine.backtest.costs import CostModel
from quant_engine.execution.algorithms import (
    ALGORITHMS,
    TWAP,
    ExecutionAlgorithm,
    SliceContext,
    build_algorithm,
)
from quant_engine.execution.bars import reference_price
from quant_engine.execution.book import BookExecutionConfig, run_on_book
from quant_engine.execution.commission import BpsCommission
from quant_engine.execution.report import ParentOrder, shortfall_parts
from quant_engine.orderbook import LatencyModel, Op, OpKind, OrderBookConfig, Side
from quant_engine.portfolio import BookState
from quant_engine.simulation.artifacts import write_parquet, write_strict_json
from quant_engine.simulation.events import BarSnapshot

UNITS = 1_000_000  # schedules are sized in millionths of a share (simulated shares are real)
MID_TICK = 100_000  # the bar book's mid, in ticks of 0.1 bp of the reference price


@dataclass(frozen=True)
class ExecutionConfig:
    """How the simulator works its orders (see the module docstring).

    ``algo``: ``twap``, ``vwap`` (volume profile over ``vwap_lookback`` earlier windows of
    ``slots`` bars), ``pov`` (``pov_rate`` of the previous bar's volume, the rest in the last
    slot) or ``is`` (Almgren-Chriss, front-loaded by ``urgency``). ``slots``: bars per parent.
    ``fill_price``: a child's reference price in its bar. ``venue: book``: each child is a
    market order sent at the bar's start through ``latency_ms`` + U[0, ``jitter_ms``] into a
    book of ``book_levels`` levels a side around the reference price, ``level_bps`` apart from
    a half spread of ``costs.half_spread_bps`` (at least 0.1 bp), each holding ``level_depth``
    of the name's mean bar volume (over ``simulation.risk_window`` earlier bars); meanwhile
    ``flow_orders`` market orders of others (each ``flow_share`` of a level, random side) arrive
    at random times in the first ``flow_window_ms``. The book's prices carry spread and impact;
    only ``costs.commission_bps`` is added.
    """

    algo: Literal["twap", "vwap", "pov", "is"] = "twap"
    venue: Literal["bars", "book"] = "bars"
    slots: int = 4
    fill_price: Literal["open", "typical", "close"] = "open"
    vwap_lookback: int = 20
    pov_rate: float = 0.1
    urgency: float = 1.0
    latency_ms: int = 0
    jitter_ms: int = 0
    book_levels: int = 10
    level_bps: float = 5.0
    level_depth: float = 0.01
    flow_orders: int = 10
    flow_share: float = 0.5
    flow_window_ms: int = 1_000

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algo {self.algo!r}: use twap, vwap, pov or is")
        if self.venue not in ("bars", "book"):
            raise ValueError(f"unknown venue {self.venue!r}: use bars or book")
        if self.fill_price not in ("open", "typical", "close"):
            raise ValueError(f"unknown fill_price {self.fill_price!r}: use open, typical, close")
        for name in ("slots", "vwap_lookback", "book_levels", "flow_window_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("latency_ms", "jitter_ms", "flow_orders"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if not 0 < self.pov_rate <= 1:
            raise ValueError(f"pov_rate must be in (0, 1], got {self.pov_rate}")
        for name in ("urgency", "level_bps", "level_depth", "flow_share"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a non-negative number, got {value!r}")
        if self.level_depth <= 0:
            raise ValueError(f"level_depth must be positive, got {self.level_depth}")

    def algorithm(self) -> ExecutionAlgorithm:
        return build_algorithm(
            self.algo,
            vwap_lookback=self.vwap_lookback,
            pov_rate=self.pov_rate,
            urgency=self.urgency,
        )


class VolumeHistory:
    """Each name's bar volumes in its own bars' order (a missing bar is skipped)."""

    def __init__(self, n_names: int) -> None:
        self._data = np.zeros((64, n_names))
        self.count = np.zeros(n_names, dtype=np.int64)

    def append(self, volume: np.ndarray) -> None:
        names = np.flatnonzero(np.isfinite(volume))
        if len(names) and self.count[names].max() == len(self._data):
            grown = np.zeros((2 * len(self._data), self._data.shape[1]))
            grown[: len(self._data)] = self._data
            self._data = grown
        self._data[self.count[names], names] = volume[names]
        self.count[names] += 1

    def of(self, name: int) -> np.ndarray:
        """The name's volumes so far, oldest first."""
        return self._data[: self.count[name], name]


@dataclass
class _Parent:
    pid: int
    name: int
    sign: int
    shares: float  # the parent's absolute quantity as decided
    decided_at: Any
    started_at: Any
    decision_price: float
    arrival_price: float
    plain_cost: float
    sigma: float
    adv: float
    n_history: int  # the name's bars before the parent's first slot
    slot: int = 0
    done_units: int = 0
    done_shares: float = 0.0
    cancelled: float = 0.0  # shares taken off by later decisions
    cancel_value: float = 0.0  # those shares x the price when they were taken off
    paid: float = 0.0  # sum of filled shares x price
    fees: float = 0.0
    n_children: int = 0
    status: str = "working"
    ended_at: Any = None
    final_price: float = math.nan
    children: list[tuple] = field(default_factory=list)

    @property
    def target(self) -> float:
        return self.shares - self.cancelled

    @property
    def units(self) -> int:
        return round(self.target * UNITS)

    @property
    def remaining(self) -> float:
        return self.target - self.done_shares


# One group of child fills per decision: (decided_at, names, signed shares, price, cost).
ChildFills = tuple[Any, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class ExecutionDesk:
    """The simulator's working parent orders and their children (one per run)."""

    def __init__(
        self,
        config: ExecutionConfig,
        costs: CostModel,
        symbols: list[str],
        seed: int,
        volume_window: int,
    ) -> None:
        self.config = config
        self.costs = costs
        self.symbols = symbols
        self.seed = seed
        self.volume_window = volume_window
        self.algorithm = config.algorithm()
        self.volumes = VolumeHistory(len(symbols))
        self.parents: list[_Parent] = []
        self._working: list[_Parent] = []
        self._flat = np.zeros(len(symbols), dtype=bool)  # the last decision closes the name

    @property
    def working(self) -> bool:
        return bool(self._working)

    def remaining(self) -> np.ndarray:
        """Signed shares the working parents still have to fill, per name."""
        rest = np.zeros(len(self.symbols))
        for p in self._working:
            rest[p.name] += p.sign * p.remaining
        return rest

    def projected(self, state: BookState, prices: np.ndarray) -> BookState:
        """``state`` as it will be once the working parents have filled at ``prices``."""
        if not self._working:
            return state
        rest = self.remaining()
        cash = state.cash - float(rest[rest != 0] @ prices[rest != 0])
        return BookState(state.shares + rest, cash, state.sleeve_equity)

    def submit(
        self,
        names: np.ndarray,
        quantity: np.ndarray,
        price: np.ndarray,
        sigma: np.ndarray,
        adv: np.ndarray,
        decision_price: np.ndarray,
        decided_at: Any,
        ts: Any,
        held: np.ndarray,
    ) -> None:
        """New parents for a rebalance's trades (planned from :meth:`projected` of the book
        holding ``held``), arriving now."""
        rest = self.remaining()
        for j, k in enumerate(names.tolist()):
            qty = float(quantity[j])
            self._flat[k] = (held[k] + rest[k]) + qty == 0  # as the plan computed it
            if round(abs(qty) * UNITS) == 0:  # below the schedules' quantum: not sent
                continue
            for p in reversed([p for p in self._working if p.name == k]):
                if (p.sign > 0) == (qty > 0) or round(abs(qty) * UNITS) == 0:
                    break  # all working parents of a name trade in one direction
                take = min(abs(qty), p.remaining)  # the opposite trade cancels, newest first
                self._cancel(p, take, ts, float(price[j]))
                qty += p.sign * take
            self._working = [p for p in self._working if p.status == "working"]
            if round(abs(qty) * UNITS) == 0:
                continue
            size = abs(qty)
            plain = self.costs.cost(np.array([size * price[j]]), sigma[j : j + 1], adv[j : j + 1])
            parent = _Parent(
                pid=len(self.parents),
                name=k,
                sign=1 if qty > 0 else -1,
                shares=size,
                decided_at=decided_at,
                started_at=ts,
                decision_price=float(decision_price[j]),
                arrival_price=float(price[j]),
                plain_cost=float(plain[0]),
                sigma=float(sigma[j]),
                adv=float(adv[j]),
                n_history=int(self.volumes.count[k]),
            )
            self.parents.append(parent)
            self._working.append(parent)

    def on_bar(self, bar: BarSnapshot, held: np.ndarray) -> list[ChildFills]:
        """Size and fill this bar's children (from earlier bars only) for a book holding
        ``held``; then record the bar's volume. The child that completes the last working
        parent of a name its decision closes sells (or buys) exactly what is held."""
        cfg = self.config
        parents_of = np.bincount([p.name for p in self._working], minlength=len(self.symbols))
        ref = reference_price(bar.open, bar.high, bar.low, bar.close, cfg.fill_price)
        rows: list[tuple[_Parent, float, float, float]] = []  # parent, shares, price, fee
        for p in self._working:
            k = p.name
            if not (math.isfinite(bar.open[k]) and math.isfinite(ref[k])):
                continue  # no bar: the name does not trade, its slot waits
            left = p.units - p.done_units
            past = self.volumes.of(k)
            ctx = SliceContext(p.slot, cfg.slots, p.units, left, past * UNITS, p.n_history)
            child = self.algorithm.child_qty(ctx)
            if not 0 <= child <= left:
                raise ValueError(f"{self.algorithm.name} sized a child of {child} with {left} left")
            p.slot += 1
            price = float(ref[k])
            if child:
                filled, price, fee = self._fill(p, child, price, past, bar.index)
                if filled:
                    whole = filled == left
                    shares = p.remaining if whole else filled / UNITS
                    if whole and self._flat[k] and parents_of[k] == 1 and held[k] * p.sign < 0:
                        shares = abs(float(held[k]))
                    p.done_units += filled
                    p.done_shares = p.target if whole else p.done_shares + shares
                    p.paid += shares * price
                    p.n_children += 1
                    rows.append((p, shares, price, fee))
                p.children.append((bar.timestamp, child, filled, float(ref[k]), price))
            if p.done_units >= p.units:
                self._end(p, "filled", bar.timestamp, price)
            elif p.slot >= cfg.slots:
                self._end(p, "incomplete", bar.timestamp, float(bar.close[k]))
        self._working = [p for p in self._working if p.status == "working"]
        self.volumes.append(bar.volume)
        return self._groups(rows)

    def _fill(
        self, p: _Parent, child: int, ref: float, past: np.ndarray, bar_index: int
    ) -> tuple[int, float, float]:
        """(units filled, price, fee) of a child; on bars the fee is the cost model's, later."""
        if self.config.venue == "bars":
            return child, ref, math.nan
        return self._fill_on_book(p, child, ref, past, bar_index)

    def _fill_on_book(
        self, p: _Parent, child: int, ref: float, past: np.ndarray, bar_index: int
    ) -> tuple[int, float, float]:
        cfg = self.config
        recent = past[-self.volume_window :]
        depth = round(cfg.level_depth * float(recent.mean()) * UNITS) if len(recent) else 0
        if depth <= 0:
            return 0, ref, 0.0
        half = max(1, round(self.costs.half_spread_bps * 10))
        step = max(1, round(cfg.level_bps * 10))
        market = []
        for level in range(cfg.book_levels):
            gap = half + level * step
            market.append(Op(-1, OpKind.LIMIT, 2 * level, Side.SELL, MID_TICK + gap, depth))
            market.append(Op(-1, OpKind.LIMIT, 2 * level + 1, Side.BUY, MID_TICK - gap, depth))
        rng = np.random.default_rng([self.seed, bar_index, p.pid])
        times = np.sort(rng.integers(0, cfg.flow_window_ms, cfg.flow_orders))
        sides = rng.integers(0, 2, cfg.flow_orders)
        flow = max(1, round(cfg.flow_share * depth))
        first = 2 * cfg.book_levels
        for j, (t, side) in enumerate(zip(times.tolist(), sides.tolist(), strict=True)):
            market.append(Op(t, OpKind.MARKET, first + j, Side(side), 0, flow))
        latency = LatencyModel(cfg.latency_ms, cfg.jitter_ms, int(rng.integers(2**31)))
        book = OrderBookConfig(n_ticks=2 * MID_TICK + 1, tick_size=ref / MID_TICK)
        report = run_on_book(
            ParentOrder(Side.BUY if p.sign > 0 else Side.SELL, child, 0),
            market,
            TWAP(),
            BpsCommission(0.0),
            BookExecutionConfig(1, cfg.flow_window_ms, 0, latency, book),
        )
        filled = report.filled
        price = report.average_price if filled else ref
        fee = self.costs.commission_bps / 1e4 * filled / UNITS * price
        return filled, price, fee

    def _groups(self, rows: list[tuple[_Parent, float, float, float]]) -> list[ChildFills]:
        """The bar's child fills by decision, oldest first; sells before buys within each."""
        groups: dict[Any, list] = {}
        for row in rows:
            groups.setdefault(row[0].decided_at, []).append(row)
        out = []
        for decided_at, part in groups.items():
            part = [r for r in part if r[0].sign < 0] + [r for r in part if r[0].sign > 0]
            names = np.array([r[0].name for r in part], dtype=np.int64)
            qty = np.array([r[0].sign * r[1] for r in part])
            price = np.array([r[2] for r in part])
            if self.config.venue == "bars":
                cost = self.costs.cost(
                    qty * price,
                    np.array([r[0].sigma for r in part]),
                    np.array([r[0].adv for r in part]),
                )
            else:
                cost = np.array([r[3] for r in part])
            for (p, *_), c in zip(part, cost.tolist(), strict=True):
                p.fees += c
            out.append((decided_at, names, qty, price, cost))
        return out

    def _cancel(self, p: _Parent, shares: float, ts: Any, price: float) -> None:
        """Take ``shares`` off what ``p`` still has to do, valued at ``price`` (its opportunity
        cost); with less than the quantum left, the parent is cancelled."""
        whole = round((p.remaining - shares) * UNITS) <= 0
        if whole:
            shares = p.remaining
        p.cancelled += shares
        p.cancel_value += shares * price
        if whole:
            self._end(p, "cancelled", ts, price)

    def _end(self, p: _Parent, status: str, ts: Any, price: float) -> None:
        p.status, p.ended_at, p.final_price = status, ts, price

    def finish(self, ts: Any, marks: np.ndarray) -> None:
        """End of the run: parents still working stay unfilled, valued at the last marks."""
        for p in self._working:
            self._end(p, "open", ts, float(marks[p.name]))
        self._working = []

    def table(self, timestamp_dtype: pl.DataType | None = None) -> pl.DataFrame:
        """One row per parent: what was asked, what was done, and its shortfall."""
        ps = self.parents
        sign = np.array([p.sign for p in ps], dtype=float)
        size = np.array([p.shares for p in ps], dtype=float)
        done = np.array([p.done_shares for p in ps], dtype=float)
        paid = np.array([p.paid for p in ps], dtype=float)
        fees = np.array([p.fees for p in ps], dtype=float)
        decision = np.array([p.decision_price for p in ps], dtype=float)
        arrival = np.array([p.arrival_price for p in ps], dtype=float)
        final = np.array([p.final_price for p in ps], dtype=float)
        plain = np.array([p.plain_cost for p in ps], dtype=float)
        cancelled = np.array([p.cancelled for p in ps], dtype=float)
        cancel_value = np.array([p.cancel_value for p in ps], dtype=float)
        ended = [p.status in ("cancelled", "filled") for p in ps]
        left = np.where(ended, 0.0, size - done - cancelled)  # unfilled at the end
        average = np.divide(paid, done, out=np.full_like(paid, np.nan), where=done > 0)

        missed = cancelled + left
        missed_value = cancel_value + np.where(left > 0, left * final, 0.0)

        def shortfall_from(price: np.ndarray) -> np.ndarray:
            """Paid vs ``price`` on the fills, costs, and the opportunity cost of the rest."""
            execution, opportunity = shortfall_parts(sign, price, done, paid, missed, missed_value)
            return execution + fees + opportunity

        shortfall, from_arrival = shortfall_from(decision), shortfall_from(arrival)
        plain_shortfall = sign * size * (arrival - decision) + plain
        times = {"decided_at": [p.decided_at for p in ps]}
        times |= {"started_at": [p.started_at for p in ps], "ended_at": [p.ended_at for p in ps]}
        frame = pl.DataFrame(
            {
                "parent": np.array([p.pid for p in ps], dtype=np.int64),
                "symbol": pl.Series([self.symbols[p.name] for p in ps], dtype=pl.String),
                "side": pl.Series(["buy" if p.sign > 0 else "sell" for p in ps], dtype=pl.String),
                **{
                    k: pl.Series(k, v, dtype=timestamp_dtype) if timestamp_dtype else v
                    for k, v in times.items()
                },
                "status": pl.Series([p.status for p in ps], dtype=pl.String),
                "quantity": sign * size,
                "filled": sign * done,
                "cancelled": sign * cancelled + 0.0,  # no -0.0
                "n_children": np.array([p.n_children for p in ps], dtype=np.int64),
                "decision_price": decision,
                "arrival_price": arrival,
                "average_price": average,
                "final_price": final,
                "cost": fees,
                "shortfall": shortfall,
                "shortfall_bps": shortfall / (size * decision) * 1e4,
                "arrival_shortfall": from_arrival,
                "arrival_shortfall_bps": from_arrival / (size * arrival) * 1e4,
                "plain_cost": plain,
                "plain_shortfall": plain_shortfall,
                "plain_shortfall_bps": plain_shortfall / (size * decision) * 1e4,
            },
            strict=False,
        )
        return frame

    def children(self) -> pl.DataFrame:
        """One row per child sized: its parent, bar, units asked and filled, prices."""
        rows = [(p.pid, self.symbols[p.name], *c) for p in self.parents for c in p.children]
        columns = ("parent", "symbol", "timestamp", "child_units", "filled_units")
        columns += ("reference_price", "price")
        return pl.DataFrame(rows, schema=list(columns), orient="row")

    def summary(self, table: pl.DataFrame) -> dict[str, float]:
        """Aggregate shortfall of all parents, in currency and in bps of their notional at the
        decision (``_shortfall``) or at arrival (``_arrival_shortfall``), executed and plain."""
        decision_notional = float((table["quantity"].abs() * table["decision_price"]).sum())
        arrival_notional = float((table["quantity"].abs() * table["arrival_price"]).sum())
        shortfall = float(table["shortfall"].sum())
        plain = float(table["plain_shortfall"].sum())
        from_arrival = float(table["arrival_shortfall"].sum())
        plain_cost = float(table["plain_cost"].sum())

        def bps(value: float, notional: float) -> float:
            return value / notional * 1e4 if notional > 0 else math.nan

        asked = float(table["quantity"].abs().sum())
        filled = float(table["filled"].abs().sum())
        return {
            "execution_parents": float(table.height),
            "execution_fill_rate": filled / asked if asked else math.nan,
            "execution_shortfall": shortfall,
            "execution_shortfall_bps": bps(shortfall, decision_notional),
            "execution_arrival_shortfall": from_arrival,
            "execution_arrival_shortfall_bps": bps(from_arrival, arrival_notional),
            "plain_shortfall": plain,
            "plain_shortfall_bps": bps(plain, decision_notional),
            "plain_arrival_shortfall": plain_cost,
            "plain_arrival_shortfall_bps": bps(plain_cost, arrival_notional),
        }

    def write(self, folder: Path, table: pl.DataFrame, metrics: dict[str, Any]) -> None:
        """``executions.parquet`` (parents), ``execution_children.parquet`` and
        ``executions.json`` (the config and the aggregate shortfall) into a run folder."""
        write_parquet(table, folder / "executions.parquet")
        write_parquet(self.children(), folder / "execution_children.parquet")
        summary = {k: v for k, v in metrics.items() if k.startswith(("execution_", "plain_"))}
        write_strict_json(folder / "executions.json", {"config": asdict(self.config), **summary})
