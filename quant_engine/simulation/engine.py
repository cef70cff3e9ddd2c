"""The event-driven simulator: snapshots in time order, strategy callbacks, fills, limits.

Per timestamp: fill the orders decided at the previous close at this bar's open (or, with
``fill_at="same_close"``, at the close they were decided on), mark the book at the close,
enforce the drawdown stop, then hand the bar to the strategy, whose signal the decision core
turns into target weights for the next fill. A name without a bar is not traded and is valued
at its last known price (``mark``: ``ffill``), or its equity point is not re-marked
(``exact``). All symbols of a timestamp travel in one snapshot
and are processed with numpy, which is what makes a million bar events a second possible.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import polars as pl

from quant_engine.backtest.costs import CostModel
from quant_engine.backtest.vectorized import Mark, check_mark, report_too_few_scores
from quant_engine.evaluation.performance import drawdown
from quant_engine.portfolio import (
    ConstructionConfig,
    CycleState,
    DecisionCore,
    cycle_state,
    too_few_scores,
)
from quant_engine.simulation.artifacts import RunArtifacts, describe_strategy, write_parquet
from quant_engine.simulation.book import Book, Fills
from quant_engine.simulation.capital import FullCapital, VolatilityScaled
from quant_engine.simulation.events import BarPanel, BarSnapshot, LookaheadError
from quant_engine.simulation.kernels import exposure, marked_value, same_sides, update_marks
from quant_engine.simulation.limits import RiskLimits
from quant_engine.simulation.records import empty_trades, run_metrics, trade_frame
from quant_engine.simulation.risk import RollingRisk
from quant_engine.simulation.strategies import Strategy

ProgressCallback = Callable[[int, int | None, dict[str, float]], None]


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a simulation run depends on besides its data and strategy."""

    capital: float = 1_000_000.0
    fill_at: Literal["next_open", "same_close"] = "next_open"
    costs: CostModel = field(default_factory=CostModel)
    portfolio: ConstructionConfig = field(default_factory=ConstructionConfig)
    limits: RiskLimits = field(default_factory=RiskLimits)
    capital_policy: FullCapital | VolatilityScaled = field(default_factory=FullCapital)
    risk_window: int = 20
    seed: int = 0
    progress_interval: int = 500
    record_cycles: bool = False  # keep each rebalance's CycleState (cycles.jsonl in artifacts)
    mark: Mark = "ffill"  # how a held name without a bar is valued (see backtest.check_mark)

    def __post_init__(self) -> None:
        check_mark(self.mark)
        if self.fill_at not in ("next_open", "same_close"):
            raise ValueError(f"unknown fill_at {self.fill_at!r}: use next_open or same_close")
        if not 0 < self.capital <= 1e15:  # NaN and inf fail too
            raise ValueError(f"capital must be a positive amount up to 1e15, got {self.capital!r}")
        if self.risk_window < 2 or self.progress_interval < 1:
            raise ValueError("capital, risk_window (>= 2) and progress_interval must be positive")


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

    def export_parquet(self, directory: str | Path) -> tuple[Path, Path]:
        """Write ``bars.parquet`` and ``trades.parquet`` into ``directory``."""
        directory = Path(directory)
        return (
            write_parquet(self.bars, directory / "bars.parquet"),
            write_parquet(self.trades, directory / "trades.parquet"),
        )


@dataclass
class _Pending:
    weights: np.ndarray
    sigma: np.ndarray
    adv: np.ndarray
    scores: np.ndarray
    eligible: np.ndarray
    decided_at: Any


class Simulator:
    """Runs one strategy over one stream of snapshots under a :class:`SimulationConfig`."""

    def __init__(
        self,
        config: SimulationConfig,
        strategy: Strategy,
        *,
        artifacts_root: str | Path | None = None,
        name: str = "run",
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        """``run_config`` is the whole resolved config the manifest records and hashes
        (default: this simulator's config and the strategy's name and parameters)."""
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
            return self._run(list(symbols), total, stream, artifacts)
        except BaseException as error:
            if artifacts is not None:
                artifacts.abort(error)
            raise

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
        strategy.start(symbols)

        mark = np.zeros(n)  # last known price per name (0 before its first bar)
        columns: dict[str, list] = {
            k: []
            for k in (
                "timestamp",
                "equity_open",
                "equity_close",
                "cash",
                "gross_exposure",
                "turnover",
                "cost",
                "n_positions",
            )
        }
        fills_log: list[tuple[int, Any, Fills, np.ndarray]] = []
        cycles: list[CycleState] = []
        pending: _Pending | None = None
        previous_ts = None
        peak = cfg.capital
        halted = cancelled = False
        active_from: int | None = None
        cum_realized = 0.0
        short: list[bool] = []  # decisions without targets for want of valid scores
        short_at: list = []
        i = -1

        def execute(
            p: _Pending, prices: np.ndarray, bar_index: int, ts: Any
        ) -> tuple[float, float]:
            nonlocal cum_realized, active_from
            if active_from is None and p.eligible.any():
                active_from = bar_index
            if per_symbol_skip and same_sides(p.weights, book.shares):
                return 0.0, 0.0
            finite = np.isfinite(prices)
            marks = prices if finite.all() else np.where(finite, prices, mark)
            plan = core.plan(
                p.weights,
                book.state(marks, per_symbol),
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
                quantity *= limits.turnover_scale(float(np.abs(quantity * price).sum()), equity)
            sigma, adv = p.sigma[order], p.adv[order]
            if costs.impact_coef > 0:  # unknown risk: no impact, as in the vectorized backtest
                sigma = np.where(np.isfinite(sigma), sigma, 0.0)
                adv = np.where(np.isfinite(adv) & (adv > 0), adv, np.inf)
            cost = costs.cost(quantity * price, sigma, adv)
            fills = book.apply(order, quantity, price, cost)
            cum = np.cumsum(np.concatenate([[cum_realized], fills.realized_pnl]))[1:]
            cum_realized = float(cum[-1])
            fills_log.append((bar_index, p.decided_at, fills, cum))
            if cfg.record_cycles:
                cycles.append(
                    cycle_state(ts, symbols, p.scores, p.eligible, p.weights, plan, prices)
                )
            if artifacts is not None:
                artifacts.log_trades(_trade_lines(ts, p.decided_at, names_json, fills, cum))
            return float(np.abs(quantity * price).sum()) / equity, float(cost.sum()) / equity

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
                turnover, cost = execute(pending, bar.open, i, ts)
                pending = None
            update_marks(mark, bar.close)
            if risk is not None:
                risk.update(bar.close, bar.volume)
            if not halted:
                signal = strategy.on_bar(bar)
                if signal is not None:
                    sigma = risk.sigma.copy() if risk is not None else nan
                    adv = risk.adv.copy() if risk is not None else nan
                    eligible = signal.eligible
                    if needs_risk:  # impact and size risk need a known volatility and ADV
                        eligible = eligible & np.isfinite(sigma) & (adv > 0)
                    weights = core.target_weights(signal.scores, eligible)
                    short.append(bool(too_few_scores(signal.scores, eligible, rules)))
                    short_at.append(ts)
                    share = 1.0  # the book's share behind a weight of 1 (a sleeve's, per symbol)
                    if per_symbol and limits.max_gross_exposure is not None:
                        sleeves = book.state(mark).sleeve_equity
                        share = sleeves / sleeves.sum()
                    weights = limits.cap_weights(policy.scale(weights, sigma), share)
                    pending = _Pending(weights, sigma, adv, signal.scores, eligible, ts)
            equity_close = book.equity(mark)
            if exact and columns["equity_close"] and _stale(book.shares, bar.close):
                equity_close = columns["equity_close"][-1]
            if same_close:
                equity_open_or_fill = equity_close
                if pending is not None:
                    turnover, cost = execute(pending, bar.close, i, ts)
                    pending = None
                    if not (exact and _stale(book.shares, bar.close)):
                        equity_close = book.equity(mark)
            else:
                equity_open_or_fill = equity_open
            peak = max(peak, equity_close)
            if not halted and limits.breached_drawdown(equity_close / peak - 1.0):
                halted = True
                pending = _Pending(np.zeros(n), nan, nan, nan, np.zeros(n, bool), ts)
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
        trades = _trade_table(fills_log, bars, names)
        final_equity = float(bars[bars.columns[1]][-1]) if bars.height else cfg.capital
        metrics = _metrics(bars, active_from, trades, cfg.capital)
        if self.progress is not None:
            self.progress(bars.height, total, {"equity": final_equity, "drawdown": 0.0})
        wall = time.perf_counter() - started
        path = None
        if artifacts is not None:
            if cfg.record_cycles:
                (artifacts.path / "cycles.jsonl").write_text(
                    "".join(c.to_json() + "\n" for c in cycles)
                )
            path = artifacts.finish(
                status, metrics, bars, trades, {"bar_events": bars.height * n, "wall_s": wall}
            )
        return SimulationResult(
            bars, trades, metrics, final_equity, status, path, cycles, wall, active_from
        )


def _trade_lines(
    ts: Any, decided_at: Any, names_json: list[str], fills: Fills, cum: np.ndarray
) -> list[str]:
    """One JSON object per fill; floats are finite here, so ``repr`` is valid JSON."""
    head = f'{{"timestamp": {json.dumps(str(ts))}, "decided_at": {json.dumps(str(decided_at))}'
    return [
        f'{head}, "symbol": {names_json[k]}, "side": "{"buy" if q > 0 else "sell"}", '
        f'"quantity": {q!r}, "price": {px!r}, "notional": {q * px!r}, "cost": {c!r}, '
        f'"realized_pnl": {r!r}, "cum_realized_pnl": {cr!r}, "position": {pos!r}}}'
        for k, q, px, c, r, cr, pos in zip(
            fills.names.tolist(),
            fills.quantity.tolist(),
            fills.price.tolist(),
            fills.cost.tolist(),
            fills.realized_pnl.tolist(),
            cum.tolist(),
            fills.position.tolist(),
            strict=True,
        )
    ]


def _stale(shares: np.ndarray, prices: np.ndarray) -> bool:
    """Whether a held name has no price here (``mark: exact`` does not re-mark then)."""
    return bool(np.any((shares != 0) & ~np.isfinite(prices)))


def _trade_table(
    fills_log: list[tuple[int, Any, Fills, np.ndarray]], bars: pl.DataFrame, names: np.ndarray
) -> pl.DataFrame:
    if not fills_log:
        return empty_trades(bars.schema.get("timestamp", pl.Int64))
    rows = np.concatenate([np.full(len(f.names), b) for b, _, f, _ in fills_log])
    decided = [d for _, d, f, _ in fills_log for _ in range(len(f.names))]
    cat = {
        attr: np.concatenate([getattr(f, attr) for _, _, f, _ in fills_log])
        for attr in ("names", "quantity", "price", "cost", "realized_pnl", "position")
    }
    return trade_frame(
        bars["timestamp"].gather(rows).to_list(),
        decided,
        names[cat["names"]],
        cat["quantity"],
        cat["price"],
        cat["cost"],
        cat["realized_pnl"],
        cat["position"],
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
