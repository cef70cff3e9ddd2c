"""The event-driven simulator: snapshots in time order, strategy callbacks, fills, limits.

Per timestamp: fill the orders decided at the previous close at this bar's open (or, with
``fill_at="same_close"``, at the close they were decided on), mark the book at the close,
enforce the drawdown stop, then hand the bar to the strategy, whose signal the decision core
turns into target weights for the next fill. A name without a bar is not traded and is valued
at its last known price (``mark``: ``ffill``), or its equity point is not re-marked
(``exact``). All symbols of a timestamp travel in one snapshot
and are processed with numpy, which is what makes a million bar events a second possible.

An account strategy (:class:`~quant_engine.simulation.account.AccountStrategy`: the
:class:`~quant_engine.simulation.components.ComponentStrategy`, or an external
:class:`~quant_engine.strategy.StrategyModel`, which the simulator wraps in a
:class:`~quant_engine.simulation.account.ModelStrategy`) is called instead with the bar and
the account (holdings, cash, equity, the equity curve, its own fills) and returns
:class:`~quant_engine.strategy.Decisions`, filled at the same fill point as weights: a target
weight sets the symbol's position to that share of equity at the fill, an order trades its
quantity on top (a limit order only where the fill bar reaches its limit, at the better of its
limit and the open; otherwise it lapses); a name without a bar at the fill is not traded and
its order lapses. Its ``exits`` are applied inside every bar a position is held, the bar it
was entered at the open included: stop-loss, take-profit and trailing stops fill at their
level, with the conservative same-bar rule and the gap rule of
:mod:`quant_engine.strategy.exits`, not at the next open. Costs, the drawdown stop, artifacts,
progress and cancellation are the same for both kinds; portfolio construction rules, the
capital policy and the weight limits (``max_gross_exposure``, ``turnover_cap``,
``kelly_fraction``) apply to weight strategies only (an account strategy caps its entries in
its entry rule). Every fill carries a ``reason``: ``entry`` (it opened or added to a
position), ``signal`` (a decision reduced, closed or reversed one), ``stop_loss``,
``take_profit``, ``trailing_stop``, ``time`` or ``drawdown_stop``.

With ``execution`` set, a rebalance's trades are parent orders instead, whose children fill
into the book over the next bars (``simulation.execution``).

A weight strategy whose signals are known from the panel up front
(:class:`~quant_engine.simulation.strategies.PanelSignals`: ``SmaCrossover``, ``Momentum``),
run on a :class:`BarPanel` with linear costs, no volume cap, full capital and no execution or
cycle record, has its bar loop compiled (:func:`kernels.bar_loop_kernel`, risk limits
included): the same steps in the same order, the same tables to the last bit (tested), except
that a cancel token is checked and the trade log written every ``progress_interval`` bars
instead of every bar. Every other run takes the Python loop.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property
from operator import gt
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl

from quant_engine.backtest.config import BookConfig
from quant_engine.backtest.vectorized import report_too_few_scores
from quant_engine.evaluation.performance import drawdown
from quant_engine.portfolio import (
    CycleState,
    DecisionCore,
    cycle_state,
    too_few_scores,
)
from quant_engine.simulation.account import Account, AccountStrategy, ModelStrategy
from quant_engine.simulation.artifacts import RunArtifacts, describe_strategy, write_parquet
from quant_engine.simulation.book import Book, Fills
from quant_engine.simulation.capital import FullCapital, VolatilityScaled
from quant_engine.simulation.events import BarPanel, BarSnapshot, LookaheadError
from quant_engine.simulation.execution import ExecutionConfig, ExecutionDesk
from quant_engine.simulation.exports import round_trips, signal_table
from quant_engine.simulation.kernels import (
    bar_loop_kernel,
    exposure,
    fill_sums,
    marked_value,
    same_sides,
    update_marks,
)
from quant_engine.simulation.limits import RiskLimits
from quant_engine.simulation.records import (
    empty_trades,
    entry_or_signal,
    run_metrics,
    strict,
    trade_frame,
)
from quant_engine.simulation.risk import RollingRisk
from quant_engine.simulation.strategies import Strategy
from quant_engine.strategy.exits import Bar, evaluate_bar
from quant_engine.strategy.model import Decisions, StrategyModel
from quant_engine.strategy.risk_state import PositionRiskState

_BAR_COLUMNS = (
    "timestamp",
    "equity_open",  # equity_at_fill with same-close fills
    "equity_close",
    "cash",
    "gross_exposure",
    "turnover",
    "cost",
    "n_positions",
)
ProgressCallback = Callable[[int, int | None, dict[str, float]], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class SimulationConfig(BookConfig):
    """A :class:`~quant_engine.backtest.BookConfig` (capital, costs, portfolio rules, risk
    window, marks) and the event-driven simulator's own settings: the fill point, limits, the
    capital policy, the seed, progress and the per-cycle record."""

    capital: float = 1_000_000.0
    fill_at: Literal["next_open", "same_close"] = "next_open"
    limits: RiskLimits = field(default_factory=RiskLimits)
    capital_policy: FullCapital | VolatilityScaled = field(default_factory=FullCapital)
    seed: int = 0
    progress_interval: int = 500
    record_cycles: bool = False  # keep each rebalance's CycleState (cycles.jsonl in artifacts)
    execution: ExecutionConfig | None = None  # work orders over the next bars (execution.py)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fill_at not in ("next_open", "same_close"):
            raise ValueError(f"unknown fill_at {self.fill_at!r}: use next_open or same_close")
        if self.progress_interval < 1:
            raise ValueError(f"progress_interval must be positive, got {self.progress_interval}")
        if self.execution is not None and self.fill_at != "next_open":
            raise ValueError("exec works orders from the next open: needs fill_at next_open")


@dataclass(frozen=True)
class SimulationResult:
    """Per-bar and per-fill tables, metrics, and where the artifacts went."""

    bars: pl.DataFrame
    trades: pl.DataFrame
    metrics: dict[str, float]
    final_equity: float  # equity at the last fill point (the last open for next-open fills)
    status: str  # completed, cancelled or halted (drawdown stop)
    artifacts: Path | None
    cycles: list[CycleState]
    wall_seconds: float
    active_from: int | None  # first bar that filled a decision with a tradable signal
    executions: pl.DataFrame | None = None  # one row per parent order (with an execution)
    signal_source: Callable[[], pl.DataFrame] | None = field(default=None, repr=False)

    @cached_property
    def signals(self) -> pl.DataFrame | None:
        """The strategy's scores: ``timestamp, symbol, score, eligible`` (built when first
        read, from ``signal_source``)."""
        return None if self.signal_source is None else self.signal_source()

    def daily(self) -> pl.DataFrame:
        """Per-period rows in the vectorized backtest's layout (trade date, returns, equity).

        Row ``i`` is the period from the fill at bar ``i`` to the next bar's fill point.
        """
        start = self.active_from if self.active_from is not None else self.bars.height
        marks = self.bars[self.bars.columns[1]].to_numpy()[start:]
        net = marks[1:] / marks[:-1] - 1.0
        cost = self.bars["cost"].to_numpy()[start:-1]
        equity = marks[1:]
        return pl.DataFrame(
            {
                "timestamp": self.bars["timestamp"][start:-1],
                "gross_return": net + cost,
                "cost": cost,
                "net_return": net,
                "turnover": self.bars["turnover"].to_numpy()[start:-1],
                "equity": equity,
                "drawdown": drawdown(np.concatenate([marks[:1], equity]))[1:],
            }
        )

    def round_trips(self) -> pl.DataFrame:
        """The fills matched into round trips, FIFO per symbol (:func:`exports.round_trips`)."""
        return round_trips(self.trades, self.bars["timestamp"])

    def export_parquet(self, directory: str | Path) -> dict[str, Path]:
        """Write ``bars``, ``signals``, ``fills`` and ``round_trips`` ``.parquet`` (the per-bar
        table, the strategy's scores, the fills, the round trips) into ``directory``."""
        directory = Path(directory)
        tables = {
            "bars": self.bars,
            "signals": self.signals,
            "fills": self.trades,
            "round_trips": self.round_trips(),
        }
        return {
            name: write_parquet(table, directory / f"{name}.parquet")
            for name, table in tables.items()
            if table is not None
        }


@dataclass
class _Pending:
    weights: np.ndarray
    sigma: np.ndarray
    adv: np.ndarray
    scores: np.ndarray
    eligible: np.ndarray
    decided_at: Any
    reason: str | None = None  # None: entry or signal, from each fill's position change


@dataclass
class _Orders:
    """An account strategy's decisions, by symbol index, waiting for the next fill."""

    weights: dict[int, float]
    orders: list[tuple[int, float, float | None]]  # (symbol, quantity, limit price or None)
    decided_at: Any
    reason: str | None = None


def _decided(decisions: Decisions, index: dict[str, int], ts: Any) -> _Orders:
    weights = {index[t.symbol]: t.weight for t in decisions.weights}
    orders = [(index[o.symbol], o.quantity, o.limit_price) for o in decisions.orders]
    return _Orders(weights, orders, ts)


class Simulator:
    """Runs one strategy over one stream of snapshots under a :class:`SimulationConfig`."""

    def __init__(
        self,
        config: SimulationConfig,
        strategy: Strategy | AccountStrategy | StrategyModel,
        *,
        artifacts_root: str | Path | None = None,
        name: str = "run",
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        """``run_config`` is the whole resolved config the manifest records and hashes
        (default: this simulator's config and the strategy's name and parameters)."""
        if not hasattr(strategy, "on_close") and isinstance(strategy, StrategyModel):
            strategy = ModelStrategy(strategy)
        if hasattr(strategy, "on_close") and (
            config.limits.max_gross_exposure is not None
            or config.limits.turnover_cap is not None
            or config.limits.kelly_fraction != 1.0
        ):
            raise ValueError(
                "limits.max_gross_exposure, turnover_cap and kelly_fraction apply to weight "
                f"strategies; {type(strategy).__name__} caps its entries in its entry rule"
            )
        if hasattr(strategy, "on_close") and config.execution is not None:
            raise ValueError(
                "exec works the orders of weight strategies; "
                f"{type(strategy).__name__} fills its own decisions"
            )
        self.config = config
        self.run_config = run_config or {
            "simulator": "event_driven",
            "strategy": describe_strategy(strategy),
            "simulation": asdict(config),
        }
        self.strategy = strategy
        self.core = DecisionCore(config.portfolio)
        self.artifacts_root = artifacts_root
        self.name = name
        self.progress = progress
        self.cancel = cancel

    def run(
        self, events: BarPanel | Iterable[BarSnapshot], symbols: list[str] | None = None
    ) -> SimulationResult:
        """Simulate ``events`` (a panel, or snapshots with their ``symbols``)."""
        if isinstance(events, BarPanel):
            symbols, total, stream = events.symbols, len(events), events.snapshots()
        else:
            if symbols is None:
                raise ValueError("a snapshot stream needs its symbols")
            total, stream = None, iter(events)
        artifacts = (
            RunArtifacts(self.artifacts_root, self.run_config, self.config.seed, self.name)
            if self.artifacts_root is not None
            else None
        )
        try:
            if isinstance(events, BarPanel) and self._compiles(events):
                return self._run_compiled(events, artifacts)
            return self._run(list(symbols), total, stream, artifacts)
        except BaseException as error:
            if artifacts is not None:
                artifacts.abort(error)
            raise

    def _compiles(self, panel: BarPanel) -> bool:
        """Whether the bar loop can run compiled (:func:`kernels.bar_loop_kernel`): a strategy
        with :class:`~quant_engine.simulation.strategies.PanelSignals`, linear costs, no
        volume cap, full capital, no execution or cycle record, and bars."""
        cfg = self.config
        ts = panel.timestamps
        return (
            callable(getattr(self.strategy, "panel_signals", None))
            and cfg.execution is None
            and not cfg.record_cycles
            and cfg.costs.impact_coef == 0
            and cfg.portfolio.max_volume_share is None
            and isinstance(cfg.capital_policy, FullCapital)
            and not cfg.capital_policy.needs_risk
            and len(ts) > 0
            and all(map(gt, ts[1:], ts))  # each after the last, else: LookaheadError
        )

    def _run_compiled(self, panel: BarPanel, artifacts: RunArtifacts | None) -> SimulationResult:
        """:meth:`_run` for the runs :meth:`_compiles` accepts, with the same events in the
        same order: the signals come from the strategy's panel form (each row from the bars up
        to its own), the target weights of every decision from the decision core up front
        (the kernel scales them by the weight limits at the decision and caps each rebalance's
        turnover), and the bars run in :func:`kernels.bar_loop_kernel`, in chunks of
        ``progress_interval`` bars when there is a progress callback, a cancel token (checked
        between chunks) or a trade log (written after each chunk)."""
        cfg, rules, limits = self.config, self.config.portfolio, self.config.limits
        started = time.perf_counter()
        symbols, timestamps = panel.symbols, panel.timestamps
        rows, n = len(panel), len(symbols)
        names = np.array(symbols)
        names_json = [json.dumps(s) for s in symbols]
        scores, eligible, decides = self.strategy.panel_signals(panel)
        decided_rows = np.flatnonzero(decides)
        weights = np.ascontiguousarray(
            self.core.target_weights(scores[decided_rows], eligible[decided_rows]), dtype=float
        )
        decision = np.full(rows, -1, dtype=np.int64)
        decision[decided_rows] = np.arange(len(decided_rows))
        active = eligible[decided_rows].any(axis=1)
        accounts = np.zeros((4, n))  # shares, average cost, realized PnL, cash flow
        mark = np.zeros(n)
        state = np.array([cfg.capital, 0.0, cfg.capital, 0.0])  # cash, paid, peak, realized
        flags = np.array([0, -1, -1, -1, -1], dtype=np.int64)  # see bar_loop_kernel
        counts = np.zeros(2, dtype=np.int64)
        capacity = max(n, min(rows * n, 1 << 16))
        fills = np.empty((capacity, 6))
        fill_ints = np.empty((capacity, 5), dtype=np.int64)
        out = np.empty((rows, 6))
        held = np.empty(rows, dtype=np.int64)
        costs = cfg.costs
        stop = limits.drawdown_stop
        constants = np.array(
            [
                cfg.capital,
                rules.allocation == "per_symbol",
                costs.linear_rate,
                1.0 / (1.0 + costs.linear_rate) if rules.sizes_with_costs else 1.0,
                rules.dust_weight,
                rules.min_trade_value,
                1.0 - rules.cash_buffer,
                cfg.fill_at == "same_close",
                cfg.mark == "exact",
                np.nan if stop is None else stop,
                limits.kelly_fraction,
                np.nan if limits.max_gross_exposure is None else limits.max_gross_exposure,
                np.nan if limits.turnover_cap is None else limits.turnover_cap,
            ],
            dtype=float,
        )
        lots = np.full(n, rules.lot_size) if rules.lot_size > 0 else np.zeros(0)
        opens, closes = (np.ascontiguousarray(a, dtype=float) for a in (panel.open, panel.close))
        watched = self.progress is not None or self.cancel is not None or artifacts is not None
        chunk = cfg.progress_interval if watched else rows
        chunks: list[tuple[np.ndarray, np.ndarray]] = []
        cancelled = False
        i = 0
        while i < rows:
            if i % chunk == 0 and self.cancel is not None and self.cancel.is_set():
                cancelled = True
                break
            i = bar_loop_kernel(
                opens,
                closes,
                weights,
                decision,
                active,
                i,
                min(rows, (i // chunk + 1) * chunk),
                accounts,
                mark,
                state,
                flags,
                counts,
                fills,
                fill_ints,
                out,
                held,
                constants,
                lots,
            )
            taken = (fills[: counts[0]].copy(), fill_ints[: counts[0]].copy())
            counts[0] = 0
            chunks.append(taken)
            if artifacts is not None:
                artifacts.log_trades(_compiled_lines(*taken, timestamps, names_json))
            if self.progress is not None and i % cfg.progress_interval == 0:
                close = float(out[i - 1, 1])
                self.progress(i, rows, {"equity": close, "drawdown": close / state[2] - 1})
        halted = bool(flags[0])
        if halted:  # no decisions after the drawdown stop
            decided_rows = decided_rows[decided_rows <= flags[4]]
        decided_rows = decided_rows[decided_rows < i]
        report_too_few_scores(
            too_few_scores(scores[decided_rows], eligible[decided_rows], rules),
            [timestamps[r] for r in decided_rows],
            rules,
        )
        columns = dict(zip(_BAR_COLUMNS[1:-1], out[:i].T, strict=True))
        bars = pl.DataFrame(
            {"timestamp": timestamps[:i], **columns, "n_positions": held[:i]}, strict=False
        )
        if cfg.fill_at == "same_close":
            bars = bars.rename({"equity_open": "equity_at_fill"})
        floats = np.concatenate([f for f, _ in chunks]) if chunks else np.zeros((0, 6))
        ints = np.concatenate([k for _, k in chunks]) if chunks else np.zeros((0, 5), np.int64)

        def signals() -> pl.DataFrame:
            return signal_table(
                bars["timestamp"].gather(decided_rows),
                symbols,
                scores[decided_rows],
                eligible[decided_rows],
            )

        status = "cancelled" if cancelled else "halted" if halted else "completed"
        active_from = int(flags[3]) if flags[3] >= 0 else None
        trades = _compiled_trades(floats, ints, bars, timestamps, names)
        return self._finish(
            started,
            n,
            bars,
            trades,
            signals,
            status,
            active_from,
            float(state[2]),
            rows,
            artifacts,
            [],
            loop="compiled",
        )

    def _run(
        self,
        symbols: list[str],
        total: int | None,
        stream: Iterable[BarSnapshot],
        artifacts: RunArtifacts | None,
    ) -> SimulationResult:
        cfg, core, strategy = self.config, self.core, self.strategy
        started = time.perf_counter()
        n = len(symbols)
        names = np.array(symbols)
        names_json = [json.dumps(s) for s in symbols]
        book = Book(n, cfg.capital)
        limits, policy, costs = cfg.limits, cfg.capital_policy, cfg.costs
        rules = cfg.portfolio
        needs_risk = costs.impact_coef > 0 or rules.max_volume_share is not None
        risk = RollingRisk(cfg.risk_window, n) if needs_risk or policy.needs_risk else None
        nan = np.full(n, np.nan)
        cost_rate = costs.linear_rate
        same_close = cfg.fill_at == "same_close"
        exact = cfg.mark == "exact"
        per_symbol = rules.allocation == "per_symbol"
        per_symbol_skip = per_symbol and rules.max_volume_share is None
        desk = (
            ExecutionDesk(cfg.execution, costs, symbols, cfg.seed, cfg.risk_window)
            if cfg.execution is not None
            else None
        )
        strategy.start(symbols)
        account = Account(symbols, book) if isinstance(strategy, AccountStrategy) else None
        exit_rules = strategy.exits if account is not None else None
        positions: dict[int, PositionRiskState] = {}  # exit levels of held names

        mark = np.zeros(n)  # last known price per name (0 before its first bar)
        columns: dict[str, list] = {k: [] for k in _BAR_COLUMNS}
        fills_log: list[tuple[int, Any, Fills, np.ndarray, str | None]] = []
        cycles: list[CycleState] = []
        pending: _Pending | None = None
        previous_ts = None
        peak = cfg.capital
        halted = cancelled = False
        active_from: int | None = None
        cum_realized = 0.0
        short: list[bool] = []  # decisions without targets for want of valid scores
        short_at: list = []
        decided_rows: list[int] = []  # the bars whose close produced a signal, and its scores
        decided_scores: list[np.ndarray] = []
        decided_eligible: list[np.ndarray] = []
        i = -1

        def record(
            bar_index: int,
            ts: Any,
            decided_at: Any,
            fills: Fills,
            reason: str | None,
        ) -> None:
            nonlocal cum_realized
            cum = np.cumsum(np.concatenate([[cum_realized], fills.realized_pnl]))[1:]
            cum_realized = float(cum[-1])
            fills_log.append((bar_index, decided_at, fills, cum, reason))
            if artifacts is not None:
                artifacts.log_trades(_trade_lines(ts, decided_at, names_json, fills, cum, reason))
            if account is not None:
                account.record_fills(
                    ts,
                    fills.names,
                    fills.quantity,
                    fills.position,
                    fills.price,
                    fills.cost,
                    _reasons(fills, reason),
                )

        def known_risk(order: np.ndarray, p_sigma, p_adv) -> tuple[np.ndarray, np.ndarray]:
            """Volatility and ADV of the ``order`` names as the cost model takes them."""
            sigma, adv = p_sigma[order], p_adv[order]
            if costs.impact_coef > 0:  # unknown risk: no impact, as in the vectorized backtest
                sigma = np.where(np.isfinite(sigma), sigma, 0.0)
                adv = np.where(np.isfinite(adv) & (adv > 0), adv, np.inf)
            return sigma, adv

        def cost_of(order: np.ndarray, notional: np.ndarray, p_sigma, p_adv) -> np.ndarray:
            return costs.cost(notional, *known_risk(order, p_sigma, p_adv))

        def fill_orders(
            p: _Orders, prices: np.ndarray, bar: BarSnapshot, bar_index: int, ts: Any
        ) -> tuple[float, float]:
            """Fill an account strategy's decisions at ``prices`` (the open, or the close)."""
            nonlocal active_from
            finite = np.isfinite(prices)
            marks = np.where(finite, prices, mark)
            equity = book.equity(marks)
            trade = np.zeros(n)
            fill_px = prices.copy()
            for j, w in p.weights.items():
                if finite[j]:
                    trade[j] = w * equity / prices[j] - book.shares[j]
            at_open = not same_close
            for j, quantity, limit in p.orders:
                if not finite[j]:
                    continue
                if limit is not None:
                    reach = prices[j]  # the best price the fill bar offers the order
                    if at_open:
                        reach = bar.low[j] if quantity > 0 else bar.high[j]
                    if (quantity > 0 and reach > limit) or (quantity < 0 and reach < limit):
                        continue  # the bar never reached the limit: the order lapses
                    better = min(prices[j], limit) if quantity > 0 else max(prices[j], limit)
                    fill_px[j] = better
                trade[j] += quantity
            order = np.concatenate([np.flatnonzero(trade < 0), np.flatnonzero(trade > 0)])
            if not len(order):
                return 0.0, 0.0
            if active_from is None:
                active_from = bar_index
            quantity, price = trade[order], fill_px[order]
            sigma = risk.sigma if risk is not None else nan
            adv = risk.adv if risk is not None else nan
            cost = cost_of(order, quantity * price, sigma, adv)
            fills = book.apply(order, quantity, price, cost)
            record(bar_index, ts, p.decided_at, fills, p.reason)
            if exit_rules is not None:
                for j, after, q, px in zip(
                    order.tolist(), fills.position, quantity, price, strict=True
                ):
                    before = after - q
                    if after == 0:
                        positions.pop(j, None)
                    elif before * after <= 0 or abs(after) > abs(before):  # opened or added
                        entry = px if before * after <= 0 else float(book.avg_cost[j])
                        positions[j] = exit_rules.open_position(
                            symbols[j], int(np.sign(after)), float(entry), ts, float(after)
                        )
            return float(np.abs(quantity * price).sum()) / equity, float(cost.sum()) / equity

        def fill_exits(bar: BarSnapshot, bar_index: int, ts: Any) -> tuple[float, float]:
            """Exit the positions whose stop, target or time the bar reaches, at that level."""
            hits: list[tuple[int, float, str]] = []
            for j, state in list(positions.items()):
                if not np.isfinite(bar.close[j]):
                    continue  # no bar: the levels wait
                bar_j = Bar(ts, bar.open[j], bar.high[j], bar.low[j], bar.close[j])
                state, event = evaluate_bar(state, bar_j)
                if event is None:
                    positions[j] = state
                else:
                    del positions[j]
                    hits.append((j, event.price, event.reason))
            if not hits:
                return 0.0, 0.0
            equity = book.equity(np.where(np.isfinite(bar.open), bar.open, mark))
            turnover = paid = 0.0
            sigma = risk.sigma if risk is not None else nan
            adv = risk.adv if risk is not None else nan
            for reason in sorted({r for _, _, r in hits}):  # one fill event per reason
                order = np.array([j for j, _, r in hits if r == reason])
                price = np.array([px for _, px, r in hits if r == reason])
                quantity = -book.shares[order]
                cost = cost_of(order, quantity * price, sigma, adv)
                record(bar_index, ts, ts, book.apply(order, quantity, price, cost), reason)
                turnover += float(np.abs(quantity * price).sum()) / equity
                paid += float(cost.sum()) / equity
            return turnover, paid

        def execute(
            p: _Pending, prices: np.ndarray, bar_index: int, ts: Any
        ) -> tuple[float, float]:
            nonlocal active_from
            if active_from is None and p.eligible.any():
                active_from = bar_index
            if per_symbol_skip and desk is None and same_sides(p.weights, book.shares):
                return 0.0, 0.0
            finite = np.isfinite(prices)
            marks = prices if finite.all() else np.where(finite, prices, mark)
            state = book.state(marks, per_symbol)
            if desk is not None:  # plan as if the working parents were done
                state = desk.projected(state, marks)
                if per_symbol_skip and same_sides(p.weights, state.shares):
                    return 0.0, 0.0
            plan = core.plan(
                p.weights,
                state,
                prices,
                p.adv if needs_risk else None,
                cost_rate,
                marks,
            )
            order = plan.order
            if not len(order):
                return 0.0, 0.0
            equity = book.equity(marks)
            quantity = plan.trades[order]
            price = prices[order]
            if limits.turnover_cap is not None:
                quantity *= limits.turnover_scale(quantity, price, equity)
            sigma, adv = known_risk(order, p.sigma, p.adv)
            if cfg.record_cycles:
                cycles.append(
                    cycle_state(ts, symbols, p.scores, p.eligible, p.weights, plan, prices)
                )
            if desk is not None:  # parents now; their children fill in ``work``
                desk.submit(
                    order, quantity, price, sigma, adv, mark[order], p.decided_at, ts, book.shares
                )
                return 0.0, 0.0
            cost = costs.cost(quantity * price, sigma, adv)
            record(bar_index, ts, p.decided_at, book.apply(order, quantity, price, cost), p.reason)
            _, traded, paid = fill_sums(quantity, price, cost)  # as the compiled loop sums
            return traded / equity, paid / equity

        def work(bar: BarSnapshot, bar_index: int) -> tuple[float, float]:
            """Fill the working parents' children of this bar into the book."""
            finite = np.isfinite(bar.open)
            equity = book.equity(bar.open if finite.all() else np.where(finite, bar.open, mark))
            traded = paid = 0.0
            for decided_at, which, quantity, price, cost in desk.on_bar(bar, book.shares):
                fills = book.apply(which, quantity, price, cost)
                record(bar_index, bar.timestamp, decided_at, fills, None)
                traded += float(np.abs(quantity * price).sum())
                paid += float(cost.sum())
            return traded / equity, paid / equity

        for bar in stream:
            i += 1
            ts = bar.timestamp
            if previous_ts is not None and not ts > previous_ts:
                raise LookaheadError(
                    f"event at {ts!r} arrived after {previous_ts!r}: events must be strictly "
                    "increasing in time"
                )
            previous_ts = ts
            if self.cancel is not None and self.cancel.is_set():
                cancelled = True
                break
            equity_open = book.cash + marked_value(book.shares, bar.open, mark)
            if exact and columns["equity_open"] and _stale(book.shares, bar.open):
                equity_open = columns["equity_open"][-1]
            turnover = cost = 0.0
            if pending is not None and not same_close:
                if account is None:
                    turnover, cost = execute(pending, bar.open, i, ts)
                else:
                    turnover, cost = fill_orders(pending, bar.open, bar, i, ts)
                pending = None
            if positions:
                exit_turnover, exit_cost = fill_exits(bar, i, ts)
                turnover, cost = turnover + exit_turnover, cost + exit_cost
            if desk is not None:
                worked = work(bar, i)
                turnover, cost = turnover + worked[0], cost + worked[1]
            update_marks(mark, bar.close)
            if risk is not None:
                risk.update(bar.close, bar.volume)
            if account is not None:
                if not halted:
                    account.record_close(bar, book.equity(mark))
                    decisions = strategy.on_close(bar, account)
                    if decisions is not None:
                        pending = _decided(decisions, account.index, ts)
            elif not halted:
                signal = strategy.on_bar(bar)
                if signal is not None:
                    decided_rows.append(i)
                    decided_scores.append(np.array(signal.scores, dtype=float))
                    decided_eligible.append(np.array(signal.eligible, dtype=bool))
                    sigma = risk.sigma.copy() if risk is not None else nan
                    adv = risk.adv.copy() if risk is not None else nan
                    eligible = signal.eligible
                    if needs_risk:  # impact and size risk need a known volatility and ADV
                        eligible = eligible & np.isfinite(sigma) & (adv > 0)
                    weights = core.target_weights(signal.scores, eligible)
                    short.append(bool(too_few_scores(signal.scores, eligible, rules)))
                    short_at.append(ts)
                    sleeves = None  # per symbol, a weight of 1 is its sleeve's share
                    if per_symbol and limits.max_gross_exposure is not None:
                        sleeves = book.state(mark).sleeve_equity
                    weights = limits.cap_weights(policy.scale(weights, sigma), sleeves)
                    pending = _Pending(weights, sigma, adv, signal.scores, eligible, ts)
            equity_close = book.equity(mark)
            if exact and columns["equity_close"] and _stale(book.shares, bar.close):
                equity_close = columns["equity_close"][-1]
            if same_close:
                equity_open_or_fill = equity_close
                if pending is not None:
                    filled = (
                        execute(pending, bar.close, i, ts)
                        if account is None
                        else fill_orders(pending, bar.close, bar, i, ts)
                    )
                    turnover, cost = turnover + filled[0], cost + filled[1]
                    pending = None
                    if not (exact and _stale(book.shares, bar.close)):
                        equity_close = book.equity(mark)
            else:
                equity_open_or_fill = equity_open
            peak = max(peak, equity_close)
            if not halted and limits.breached_drawdown(equity_close / peak - 1.0):
                halted = True
                if account is None:
                    pending = _Pending(
                        np.zeros(n), nan, nan, nan, np.zeros(n, bool), ts, "drawdown_stop"
                    )
                else:
                    held = np.flatnonzero(book.shares).tolist()
                    pending = _Orders(dict.fromkeys(held, 0.0), [], ts, "drawdown_stop")
                    positions.clear()
            columns["timestamp"].append(ts)
            columns["equity_open"].append(equity_open_or_fill)
            columns["equity_close"].append(equity_close)
            columns["cash"].append(book.cash)
            gross, n_held = exposure(book.shares, mark)
            columns["gross_exposure"].append(gross)
            columns["turnover"].append(turnover)
            columns["cost"].append(cost)
            columns["n_positions"].append(n_held)
            if self.progress is not None and (i + 1) % cfg.progress_interval == 0:
                self.progress(
                    i + 1, total, {"equity": equity_close, "drawdown": equity_close / peak - 1}
                )

        report_too_few_scores(np.array(short, dtype=bool), short_at, rules)
        status = "cancelled" if cancelled else "halted" if halted else "completed"
        bars = pl.DataFrame(columns, strict=False)
        if bars.height and same_close:
            bars = bars.rename({"equity_open": "equity_at_fill"})

        def signals() -> pl.DataFrame:
            return signal_table(
                bars["timestamp"].gather(decided_rows)
                if bars.height
                else pl.Series("timestamp", []),
                symbols,
                np.array(decided_scores).reshape(len(decided_rows), n),
                np.array(decided_eligible).reshape(len(decided_rows), n),
            )

        return self._finish(
            started,
            n,
            bars,
            _trade_table(fills_log, bars, names),
            signals,
            status,
            active_from,
            peak,
            total,
            artifacts,
            cycles,
            desk,
            previous_ts,
            mark,
        )

    def _finish(
        self,
        started: float,
        n_symbols: int,
        bars: pl.DataFrame,
        trades: pl.DataFrame,
        signals: Callable[[], pl.DataFrame],
        status: str,
        active_from: int | None,
        peak: float,
        total: int | None,
        artifacts: RunArtifacts | None,
        cycles: list[CycleState],
        desk: ExecutionDesk | None = None,
        last_ts: Any = None,
        mark: np.ndarray | None = None,
        loop: str = "python",
    ) -> SimulationResult:
        """The run's result from its tables: metrics, the last progress call, artifacts;
        ``signals`` builds the signal table (only when artifacts or the result ask for it);
        ``loop`` (the bar loop that ran: ``python`` or ``compiled``) goes to the manifest."""
        cfg = self.config
        final_equity = float(bars[bars.columns[1]][-1]) if bars.height else cfg.capital
        metrics = _metrics(bars, active_from, trades, cfg.capital)
        executions = None
        if desk is not None:
            desk.finish(last_ts, mark)
            executions = desk.table(bars.schema.get("timestamp"))
            metrics.update(strict(desk.summary(executions)))
        if self.progress is not None and (bars.height % cfg.progress_interval or not bars.height):
            last = float(bars["equity_close"][-1]) if bars.height else cfg.capital
            self.progress(bars.height, total, {"equity": last, "drawdown": last / peak - 1})
        wall = time.perf_counter() - started
        signals = cache(signals)  # built at most once: for the artifacts and the result
        path = None
        if artifacts is not None:
            if cfg.record_cycles:
                (artifacts.path / "cycles.jsonl").write_text(
                    "".join(c.to_json() + "\n" for c in cycles)
                )
            if desk is not None:
                desk.write(artifacts.path, executions, metrics)
            path = artifacts.finish(
                status,
                metrics,
                bars,
                trades,
                {"bar_events": bars.height * n_symbols, "wall_s": wall, "loop": loop},
                {"signals": signals(), "round_trips": round_trips(trades, bars["timestamp"])},
            )
        return SimulationResult(
            bars,
            trades,
            metrics,
            final_equity,
            status,
            path,
            cycles,
            wall,
            active_from,
            executions,
            signals,
        )


def _reasons(fills: Fills, reason: str | None) -> np.ndarray:
    """Each fill's reason: ``reason``, or (None) ``entry`` where the fill opened or added to a
    position and ``signal`` where it reduced, closed or reversed one."""
    if reason is not None:
        return np.full(len(fills.names), reason)
    return entry_or_signal(fills.quantity, fills.position)


def _trade_lines(
    ts: Any,
    decided_at: Any,
    names_json: list[str],
    fills: Fills,
    cum: np.ndarray,
    reason: str | None = None,
) -> list[str]:
    """One JSON object per fill; floats are finite here, so ``repr`` is valid JSON."""
    head = f'{{"timestamp": {json.dumps(str(ts))}, "decided_at": {json.dumps(str(decided_at))}'
    return [
        f'{head}, "symbol": {names_json[k]}, "side": "{"buy" if q > 0 else "sell"}", '
        f'"quantity": {q!r}, "price": {px!r}, "notional": {q * px!r}, "cost": {c!r}, '
        f'"realized_pnl": {r!r}, "cum_realized_pnl": {cr!r}, "position": {pos!r}, '
        f'"reason": "{why}"}}'
        for k, q, px, c, r, cr, pos, why in zip(
            fills.names.tolist(),
            fills.quantity.tolist(),
            fills.price.tolist(),
            fills.cost.tolist(),
            fills.realized_pnl.tolist(),
            cum.tolist(),
            fills.position.tolist(),
            _reasons(fills, reason).tolist(),
            strict=True,
        )
    ]


def _compiled_lines(
    floats: np.ndarray, ints: np.ndarray, timestamps: list, names_json: list[str]
) -> list[str]:
    """The trade log lines (:func:`_trade_lines`) of :func:`kernels.bar_loop_kernel`'s fill
    rows, event by event."""
    cuts = np.flatnonzero(np.diff(ints[:, 3])) + 1
    lines: list[str] = []
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(ints)], strict=True):
        if hi == lo:
            continue  # no fills at all
        f, k = floats[lo:hi], ints[lo:hi]
        fills = Fills(k[:, 2], f[:, 0], f[:, 1], f[:, 2], f[:, 3], f[:, 4])
        reason = "drawdown_stop" if k[0, 4] else None
        ts, decided = timestamps[k[0, 0]], timestamps[k[0, 1]]
        lines += _trade_lines(ts, decided, names_json, fills, f[:, 5], reason)
    return lines


def _compiled_trades(
    floats: np.ndarray, ints: np.ndarray, bars: pl.DataFrame, timestamps: list, names: np.ndarray
) -> pl.DataFrame:
    """The trade table of the compiled loop's fill rows (as :func:`_trade_table`)."""
    if not len(ints):
        return empty_trades(bars.schema.get("timestamp", pl.Int64))
    quantity, position = floats[:, 0], floats[:, 4]
    reason = np.where(ints[:, 4] == 1, "drawdown_stop", entry_or_signal(quantity, position))
    return trade_frame(
        bars["timestamp"].gather(ints[:, 0]).to_list(),
        [timestamps[d] for d in ints[:, 1].tolist()],
        names[ints[:, 2]],
        quantity,
        floats[:, 1],
        floats[:, 2],
        floats[:, 3],
        position,
        reason,
    )


def _stale(shares: np.ndarray, prices: np.ndarray) -> bool:
    """Whether a held name has no price here (``mark: exact`` does not re-mark then)."""
    return bool(np.any((shares != 0) & ~np.isfinite(prices)))


def _trade_table(
    fills_log: list[tuple[int, Any, Fills, np.ndarray, str | None]],
    bars: pl.DataFrame,
    names: np.ndarray,
) -> pl.DataFrame:
    if not fills_log:
        return empty_trades(bars.schema.get("timestamp", pl.Int64))
    rows = np.concatenate([np.full(len(f.names), b) for b, _, f, _, _ in fills_log])
    decided = [d for _, d, f, _, _ in fills_log for _ in range(len(f.names))]
    cat = {
        attr: np.concatenate([getattr(f, attr) for _, _, f, _, _ in fills_log])
        for attr in ("names", "quantity", "price", "cost", "realized_pnl", "position")
    }
    reason = np.concatenate([_reasons(f, why) for _, _, f, _, why in fills_log])
    return trade_frame(
        bars["timestamp"].gather(rows).to_list(),
        decided,
        names[cat["names"]],
        cat["quantity"],
        cat["price"],
        cat["cost"],
        cat["realized_pnl"],
        cat["position"],
        reason,
    )


def _metrics(
    bars: pl.DataFrame, active_from: int | None, trades: pl.DataFrame, capital: float
) -> dict[str, float | None]:
    """The run's metrics (:func:`records.run_metrics`) over the periods from the first fill."""
    marks = bars.columns[1] if bars.height else "equity_open"  # or equity_at_fill
    start = bars.height if active_from is None else active_from
    equity = bars[marks].to_numpy()[start:] if bars.height else np.zeros(0)
    returns = equity[1:] / equity[:-1] - 1.0 if equity.size > 1 else np.zeros(0)
    turnover = bars["turnover"].to_numpy()[start:-1] if returns.size else None
    return run_metrics(returns, turnover, capital, trades, bars.height)
