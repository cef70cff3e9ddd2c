"""Vectorized backtest of a portfolio built from scores by the decision core.

Timeline: scores of day ``t`` are known after its close; the portfolio trades to its targets at
the open of ``t+1`` and holds until the open of ``t+2``. A name without a bar at an open is not
traded there (it keeps its position) and is valued at its last known price (its last close);
``mark`` says how the equity curve treats such a name (see :func:`check_mark`). Costs use the
20-day volatility and dollar ADV known at the close of ``t``. Weights drift with prices
between rebalances, so turnover is measured against the drifted book. Target weights and the
rebalance rules come from :mod:`quant_engine.portfolio`, the same code the event-driven
simulator and the live rebalance run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from quant_engine.backtest.config import BookConfig
from quant_engine.backtest.kernels import first_scored_row, marks_kernel, sleeves_kernel
from quant_engine.evaluation.performance import drawdown, performance_metrics
from quant_engine.portfolio import BookState, ConstructionConfig, DecisionCore, too_few_scores
from quant_engine.portfolio import target_weights as _core_target_weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarketPanel:
    """Wide (dates x symbols) arrays aligned for the backtest."""

    dates: list
    symbols: list[str]
    open: np.ndarray
    sigma: np.ndarray  # daily log-return volatility known at the close (last known if no bar)
    adv: np.ndarray  # average daily dollar volume known at the close (likewise)
    close: np.ndarray | None = None  # closes (NaN: no bar), for the last known price

    def marks(self) -> np.ndarray:
        """Each open, or where a name has no bar, its last known price (its last close)."""
        return marks_kernel(self.open, self.open if self.close is None else self.close)

    @classmethod
    def from_bars(cls, bars: pl.DataFrame, risk_window: int = 20) -> MarketPanel:
        risk = bars.sort("symbol", "timestamp").with_columns(
            pl.col("close").log().diff().rolling_std(risk_window).over("symbol").alias("sigma"),
            (pl.col("close") * pl.col("volume"))
            .rolling_mean(risk_window)
            .over("symbol")
            .alias("adv"),
        )
        symbols = sorted(risk["symbol"].unique().to_list())
        dates = risk["timestamp"].unique().sort()
        wide = _wide(risk, dates, symbols, ("open", "sigma", "adv", "close"), "bars")
        return cls(
            dates=dates.to_list(),
            symbols=symbols,
            open=wide["open"],
            sigma=_ffill(wide["sigma"]),
            adv=_ffill(wide["adv"]),
            close=wide["close"],
        )

    def window(self, start: int, stop: int) -> MarketPanel:
        """Rows ``start:stop`` as a panel of their own."""
        rows = slice(start, stop)
        close = None if self.close is None else self.close[rows]
        return MarketPanel(
            self.dates[rows], self.symbols, self.open[rows], self.sigma[rows], self.adv[rows], close
        )

    def align_scores(self, signals: pl.DataFrame) -> np.ndarray:
        """Scores as a (dates x symbols) array, NaN where a symbol has no score that day."""
        dates = pl.Series("timestamp", self.dates, dtype=signals["timestamp"].dtype)
        known = signals.filter(
            pl.col("timestamp").is_in(dates.implode()) & pl.col("symbol").is_in(self.symbols)
        )
        return _wide(known, dates, self.symbols, ("score",), "signals")["score"]


def _wide(
    frame: pl.DataFrame, dates: pl.Series, symbols: list[str], columns: tuple[str, ...], what: str
) -> dict[str, np.ndarray]:
    """``columns`` of a long (timestamp, symbol) ``frame`` as (dates x symbols) float arrays,
    NaN where a pair has no row (or a null). ``dates`` is sorted and holds every timestamp of
    ``frame``, ``symbols`` every symbol; ``what`` names the frame when a pair appears twice."""
    rows = np.searchsorted(dates.to_numpy(), frame["timestamp"].to_numpy())
    lookup = pl.DataFrame({"symbol": symbols, "_col": np.arange(len(symbols))})
    cols = frame.select("symbol").join(lookup, on="symbol", how="left", maintain_order="left")
    cols = cols["_col"].to_numpy()
    flat = rows * len(symbols) + cols
    if flat.size and np.bincount(flat, minlength=len(dates) * len(symbols)).max() > 1:
        raise ValueError(f"{what}: a (timestamp, symbol) pair appears more than once")
    out = {}
    for column in columns:
        values = np.full(len(dates) * len(symbols), np.nan)
        values[flat] = frame[column].cast(pl.Float64).to_numpy()
        out[column] = values.reshape(len(dates), len(symbols))
    return out


def _ffill(values: np.ndarray) -> np.ndarray:
    """Forward-fill NaN down each column."""
    rows = np.where(np.isfinite(values), np.arange(len(values))[:, None], 0)
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled = values[rows, np.arange(values.shape[1])]
    return filled


def target_weights(scores: np.ndarray, eligible: np.ndarray, config: BookConfig) -> np.ndarray:
    """Target weights per row, from the decision core (see :func:`quant_engine.portfolio`)."""
    return _core_target_weights(scores, eligible, config.portfolio)


@dataclass(frozen=True)
class Sparse:
    """A (rows x names) matrix as a few of its cells: ``at`` (row, name) pairs and their
    ``values``; :meth:`dense` puts 0 in the others (:meth:`of` keeps the non-zero ones)."""

    shape: tuple[int, int]
    at: np.ndarray  # (n, 2) int64 row, name
    values: np.ndarray

    @classmethod
    def of(cls, dense: np.ndarray) -> Sparse:
        at = np.argwhere(dense != 0)
        return cls(dense.shape, at, dense[at[:, 0], at[:, 1]])

    def dense(self) -> np.ndarray:
        out = np.zeros(self.shape)
        out[self.at[:, 0], self.at[:, 1]] = self.values
        return out


@dataclass(frozen=True)
class Book:
    """The general book's holdings after a trade date: shares per name and the cash of each
    sleeve (per-symbol allocation) or of the whole book (its one entry)."""

    shares: np.ndarray
    cash: np.ndarray


@dataclass(frozen=True)
class BacktestResult:
    """A backtest's path. The (trade dates x names) matrices (``weights``, ``trades``,
    ``trade_costs()``), the ``daily`` frame and the ``metrics`` are built on first use and kept.
    """

    dates: list  # the trade dates (rows of ``daily``)
    decided_at: list  # the signal date of each trade date (the previous bar)
    gross_return: np.ndarray
    cost: np.ndarray
    net_return: np.ndarray
    turnover: np.ndarray
    equity: np.ndarray
    capital: float
    final_equity: float
    symbol_equity: np.ndarray  # final equity of each name's sleeve (per-symbol allocation)
    linear_rate: float  # the linear cost rate, for trade_costs
    prices: np.ndarray  # the price each trade date's trades filled at (its open)
    _trades: Sparse  # notional traded per name at each trade date
    _costs: Sparse | None  # cost per name and trade date, when not linear
    _weight_changes: Sparse  # each target weight where it changes (from 0 before the first)
    book: Book | None = None  # the holdings after the last trade date (None: closed form)

    @cached_property
    def daily(self) -> pl.DataFrame:
        """timestamp (trade date), gross/net return, cost, turnover, equity, drawdown."""
        return pl.DataFrame(
            {
                "timestamp": self.dates,
                "gross_return": self.gross_return,
                "cost": self.cost,
                "net_return": self.net_return,
                "turnover": self.turnover,
                "equity": self.equity,
                "drawdown": drawdown(np.concatenate([[self.capital], self.equity]))[1:],
            }
        )

    @cached_property
    def metrics(self) -> dict[str, float]:
        return performance_metrics(self.net_return, self.turnover)

    @cached_property
    def weights(self) -> np.ndarray:
        """Target weights per trade date (rows of ``daily``)."""
        changes = self._weight_changes
        marked = np.full(changes.shape, np.nan)
        marked[0] = 0.0
        marked[changes.at[:, 0], changes.at[:, 1]] = changes.values
        return _ffill(marked)

    @cached_property
    def trades(self) -> np.ndarray:
        """Notional traded per name at each trade date (rows of ``daily``)."""
        return self._trades.dense()

    def trade_costs(self) -> np.ndarray:
        """The cost paid per name at each trade date."""
        if self._costs is not None:
            return self._costs.dense()
        return np.abs(self.trades) * self.linear_rate


def run_backtest(
    signals: pl.DataFrame, bars: pl.DataFrame, config: BookConfig | None = None
) -> BacktestResult:
    """Backtest ``signals`` (timestamp, symbol, score) on ``bars`` under ``config``."""
    cfg = config or BookConfig()
    panel = MarketPanel.from_bars(bars, cfg.risk_window)
    return run_panel_backtest(panel, panel.align_scores(signals), cfg)


def run_panel_backtest(
    panel: MarketPanel, scores: np.ndarray, config: BookConfig | None = None
) -> BacktestResult:
    """Backtest a (dates x symbols) ``scores`` matrix aligned with ``panel``.

    ``config`` is a :class:`BookConfig` (a simulator's config that is one works alike: only
    its capital, costs, portfolio rules, risk window and marks are read).
    """
    cfg = config or BookConfig()
    scores = np.asarray(scores, dtype=float)
    if scores.shape != panel.open.shape:
        raise ValueError(
            f"scores have shape {scores.shape}, the panel {panel.open.shape} (dates x symbols)"
        )
    prices = panel.marks()
    signal_rows = slice(0, len(panel.dates) - 2)
    if _closed_form_applies(cfg):  # its eligible names: those with a finite score
        first = first_scored_row(scores[signal_rows])
        if first < 0:
            raise ValueError("no day has a tradable signal: check that signals and bars overlap")
        path = _sleeves_closed_form(scores[signal_rows], prices, panel.open, first, cfg)
    else:
        first, path = drift_path(panel, scores, prices, cfg)
    return path_result(panel, prices, first, path, cfg, cfg.capital)


def path_result(
    panel: MarketPanel,
    prices: np.ndarray,
    first: int,
    path: _Path,
    cfg: BookConfig,
    equity_before: float,
) -> BacktestResult:
    """The result of ``path`` (from signal row ``first`` of ``panel``, marked at ``prices``),
    the equity point before its first trade date being ``equity_before``."""
    equity, gross = path.equity, path.gross
    net_return = path.gross - path.cost
    if cfg.mark == "exact":  # an equity point with a held name lacking its bar is not re-marked
        stale = (path.held & ~np.isfinite(panel.open[2 + first :])).any(axis=1)
        equity = _carry(equity, stale, equity_before)
        net_return = equity / np.concatenate([[equity_before], equity[:-1]]) - 1.0
        gross = net_return + path.cost
    n = len(net_return)
    return BacktestResult(
        dates=panel.dates[1 + first : 1 + first + n],
        decided_at=panel.dates[first : first + n],
        gross_return=gross,
        cost=path.cost,
        net_return=net_return,
        turnover=path.turnover,
        equity=equity,
        capital=cfg.capital,
        final_equity=float(equity[-1]),
        symbol_equity=path.symbol_equity,
        linear_rate=cfg.costs.linear_rate,
        prices=prices[1 + first : -1],
        _trades=path.trades,
        _costs=path.costs,
        _weight_changes=path.weight_changes,
        book=path.book,
    )


def drift_path(
    panel: MarketPanel,
    scores: np.ndarray,
    prices: np.ndarray,
    cfg: BookConfig,
    book: Book | None = None,
) -> tuple[int, _Path]:
    """The first signal row and the path of the general book (see :func:`_drift_loop`): from
    the first row with a tradable signal and no holdings, or, given ``book``, from row 0 and
    those holdings (a run extended by later days)."""
    rules = cfg.portfolio
    entry, exit_ = prices[1:-1], prices[2:]
    signal_rows = slice(0, len(panel.dates) - 2)
    sigma, adv = panel.sigma[signal_rows], panel.adv[signal_rows]
    eligible = np.isfinite(scores[signal_rows])
    if cfg.costs.impact_coef > 0 or rules.max_volume_share is not None:
        eligible &= np.isfinite(sigma) & np.isfinite(adv) & (adv > 0)
    has_signal = eligible.any(axis=1)
    if book is None and not has_signal.any():
        raise ValueError("no day has a tradable signal: check that signals and bars overlap")
    first = 0 if book is not None else int(np.argmax(has_signal))
    weights = DecisionCore(rules).target_weights(scores[signal_rows], eligible)[first:]
    report_too_few_scores(
        too_few_scores(scores[signal_rows], eligible, rules)[first:],
        panel.dates[first:],
        rules,
    )
    tradable = np.isfinite(panel.open[1 + first : -1])  # no bar at the open: keep the book
    # A name with no price yet is flat; after its last bar it keeps its last known price.
    with np.errstate(invalid="ignore", divide="ignore"):
        period_return = np.nan_to_num(exit_ / entry - 1.0, nan=0.0)[first:]
    # Names without a known volatility or ADV (closing a position in one, say) pay no impact.
    sigma = np.nan_to_num(sigma[first:])
    adv = np.where(np.isfinite(adv[first:]) & (adv[first:] > 0), adv[first:], np.inf)
    return first, _drift_loop(
        weights, entry[first:], period_return, sigma, adv, tradable, cfg, book
    )


def report_too_few_scores(rows: np.ndarray, dates: list, rules: ConstructionConfig) -> int:
    """Log (warning) how many decisions made no targets for want of valid scores."""
    n = int(np.count_nonzero(rows))
    if n:
        log.warning(
            "%d of %d decisions had fewer than %d valid scores (min_valid_scores) and made no "
            "targets; the first on %s",
            n,
            len(rows),
            rules.valid_scores_needed,
            dates[int(np.argmax(rows))],
        )
    return n


def _carry(equity: np.ndarray, stale: np.ndarray, start: float) -> np.ndarray:
    """``equity`` with each stale point replaced by the last fresh one (``start`` before any)."""
    out = equity.copy()
    last = start
    for p in range(len(out)):
        if stale[p]:
            out[p] = last
        else:
            last = out[p]
    return out


@dataclass(frozen=True)
class _Path:
    gross: np.ndarray
    cost: np.ndarray
    turnover: np.ndarray
    equity: np.ndarray
    trades: Sparse
    symbol_equity: np.ndarray
    costs: Sparse | None  # None: linear costs only, |trades| x rate
    held: np.ndarray  # which names are held after each trade date
    weight_changes: Sparse  # the target weights where they change (from 0)
    book: Book | None = None  # the holdings after the last trade date (general book)


def _drift_loop(
    weights: np.ndarray,
    prices: np.ndarray,
    period_return: np.ndarray,
    sigma: np.ndarray,
    adv: np.ndarray,
    tradable: np.ndarray,
    cfg: BookConfig,
    book: Book | None = None,
) -> _Path:
    """Period by period: plan the trades with the decision core's one planner at the open's
    prices (the simulator's call), pay costs, hold the shares to the next open; from
    ``book`` when given, else from cash."""
    rules = cfg.portfolio
    core = DecisionCore(rules)
    n_periods, n_names = weights.shape
    per_symbol = rules.allocation == "per_symbol"
    gross, cost, turnover, equity = (np.empty(n_periods) for _ in range(4))
    trades = np.empty_like(weights)
    costs = np.empty_like(weights)
    holding = np.zeros(weights.shape, dtype=bool)
    shares = np.zeros(n_names)
    # the cash of each sleeve (per symbol), or of the book in its one entry
    cash = np.full(n_names, cfg.capital / n_names) if per_symbol else np.array([cfg.capital])
    if book is not None:
        shares, cash = book.shares.copy(), book.cash.copy()
    volume_adv = rules.max_volume_share is not None
    for p in range(n_periods):
        mark = np.nan_to_num(prices[p])  # a name without a price yet is flat
        before = shares * mark
        value = cash + before if per_symbol else cash + before.sum()
        total = value.sum()
        plan = core.plan(
            weights[p],
            BookState(shares, float(cash.sum()), value if per_symbol else None),
            np.where(tradable[p], prices[p], np.nan),  # no bar at the open: not traded
            adv[p] if volume_adv else None,
            cfg.costs.linear_rate,
            mark,
        )
        shares = plan.target_shares
        holding[p] = shares != 0
        trades[p] = plan.trades * mark
        cost_by_name = cfg.costs.cost(trades[p], sigma[p], adv[p])
        costs[p] = cost_by_name
        pnl_by_name = shares * mark * period_return[p]
        gross[p] = pnl_by_name.sum() / total
        cost[p] = cost_by_name.sum() / total
        turnover[p] = np.abs(trades[p]).sum() / total
        if per_symbol:
            cash = cash - trades[p] - cost_by_name
            after = value + pnl_by_name - cost_by_name
        else:
            cash = cash - trades[p].sum() - cost_by_name.sum()
            after = value * (1.0 + gross[p] - cost[p])
        equity[p] = after.sum()
    symbol_equity = after if per_symbol else np.full(n_names, np.nan)
    changed = weights != np.vstack([np.zeros((1, n_names)), weights[:-1]])
    at = np.argwhere(changed)
    weight_changes = Sparse(weights.shape, at, weights[at[:, 0], at[:, 1]])
    return _Path(
        gross,
        cost,
        turnover,
        equity,
        Sparse.of(trades),
        symbol_equity,
        Sparse.of(costs),
        holding,
        weight_changes,
        Book(shares, cash),
    )


def _closed_form_applies(cfg: BookConfig) -> bool:
    rules = cfg.portfolio
    return (
        rules.allocation == "per_symbol"
        and rules.mode == "long_only"
        and cfg.costs.impact_coef == 0
        and rules.sizes_with_costs
        and rules.max_weight == 1.0
        and rules.max_volume_share is None
        and rules.min_trade_value == 0
        and rules.dust_weight == 0
        and rules.cash_buffer == 0
        and rules.lot_size == 0
        and rules.valid_scores_needed <= 1
    )


def _sleeves_closed_form(
    scores: np.ndarray, marks: np.ndarray, opens: np.ndarray, first: int, cfg: BookConfig
) -> _Path:
    """All-in/all-out long sleeves with linear costs, in one compiled pass from row ``first``.

    Entering pays ``rate`` out of the sleeve (it buys ``V / (1 + rate)``), exiting pays
    ``rate * V``; in between the sleeve grows with the name. The same numbers as the loop.
    """
    rules = cfg.portfolio
    start = cfg.capital / scores.shape[1]
    cut = 0.0 if rules.threshold is None else float(rules.threshold)
    gaps = marks is not opens  # panel.marks() is the opens themselves when every bar is there
    (gross, cost, traded, equity, trade_at, notional, sides, change_at, changed_to, final, held) = (
        sleeves_kernel(
            scores,
            marks,
            opens,
            first,
            start,
            cfg.costs.linear_rate,
            cut,
            gaps,
            cfg.mark == "exact",
        )
    )
    shape = (len(scores) - first, scores.shape[1])
    # With a bar at every open each target is the side it leaves: its changes are the trades.
    targets = Sparse(shape, change_at, changed_to) if gaps else Sparse(shape, trade_at, sides)
    before = np.concatenate([[cfg.capital], equity[:-1]])
    return _Path(
        gross / before,
        cost / before,
        traded / before,
        equity,
        Sparse(shape, trade_at, notional),
        final,
        None,
        held,
        targets,
    )
