"""A vectorized backtest extended by later days from its stored end state.

A period of the general book (see :mod:`quant_engine.backtest.vectorized`) reads the scores,
volatility and ADV of its decision row, the marks of the next two rows and the holdings the
period before left. None of these change when later bars arrive, so a run over the whole
history is its first periods followed by the periods that a :class:`BacktestState` (the
holdings after the last trade date and each symbol's last ``risk_window + 2`` bars, enough for
the volatility, ADV and last price the next periods read) extends with the later bars. Per-
symbol sleeves (and the closed form) are sized over every symbol of the history, so they are
not extended: run them whole.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from quant_engine.backtest.config import BookConfig
from quant_engine.backtest.vectorized import (
    BacktestResult,
    Book,
    MarketPanel,
    drift_path,
    path_result,
    run_panel_backtest,
)
from quant_engine.evaluation.performance import drawdown, performance_metrics
from quant_engine.io.atomic import atomic_path

HISTORY_COLUMNS = ("symbol", "timestamp", "open", "close", "volume")  # what MarketPanel reads
FORMAT = 1  # of the stored state; another one is not read


class NotExtendable(ValueError):
    """A stored state cannot be extended under this config or by these bars (the reason)."""


def config_digest(config: BookConfig) -> str:
    """A digest of everything in ``config`` (frozen dataclasses: their repr lists each field)."""
    return hashlib.sha256(repr(config).encode()).hexdigest()


def extendable(config: BookConfig) -> str | None:
    """Why a backtest under ``config`` cannot be extended (None: it can)."""
    if config.portfolio.allocation == "per_symbol":  # the closed form's books among them
        return "per-symbol sleeves are sized over every symbol of the history"
    return None


@dataclass(frozen=True)
class BacktestState:
    """Where a backtest of the general book stopped, for :func:`extend_backtest`.

    ``decided_at`` is the decision date of the next period (the last bar date but one: the
    last trade date), ``last_date`` the last bar date; ``book`` the holdings after the last
    trade date, ``weights`` its target weights and ``equity`` its equity point; ``history``
    each symbol's last ``risk_window + 2`` bars (``HISTORY_COLUMNS``).
    """

    symbols: list[str]
    decided_at: datetime
    last_date: datetime
    book: Book
    weights: np.ndarray
    equity: float
    history: pl.DataFrame
    config_digest: str

    @classmethod
    def after(cls, result: BacktestResult, bars: pl.DataFrame, config: BookConfig) -> BacktestState:
        """The state after ``result``, a backtest of ``bars`` under ``config``."""
        if result.book is None or extendable(config) is not None:
            raise NotExtendable(extendable(config) or "the result has no book")
        history = _history(bars, config.risk_window)
        return cls(
            symbols=sorted(history["symbol"].unique().to_list()),
            decided_at=result.dates[-1],
            last_date=history["timestamp"].max(),
            book=result.book,
            weights=result.weights[-1].copy(),
            equity=float(result.equity[-1]),
            history=history,
            config_digest=config_digest(config),
        )

    def save(self, path: str | Path, built_from: dict) -> Path:
        """Write the state with ``built_from`` (what else it was built from) atomically."""
        buffer = io.BytesIO()
        self.history.write_ipc(buffer)
        meta = {
            "format": FORMAT,
            "built_from": built_from,
            "equity": self.equity,
            "config_digest": self.config_digest,
        }
        dates = pl.DataFrame({"date": [self.decided_at, self.last_date]})
        dates_buffer = io.BytesIO()
        dates.write_ipc(dates_buffer)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                meta=np.array(json.dumps(meta, sort_keys=True, default=str)),
                symbols=np.array(self.symbols, dtype=str),
                shares=self.book.shares,
                cash=self.book.cash,
                weights=self.weights,
                history=np.frombuffer(buffer.getvalue(), dtype=np.uint8),
                dates=np.frombuffer(dates_buffer.getvalue(), dtype=np.uint8),
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> tuple[BacktestState, dict] | None:
        """The state at ``path`` and what it was built from (None: none, or another format)."""
        if not Path(path).is_file():
            return None
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
            if meta.get("format") != FORMAT:
                return None
            dates = pl.read_ipc(io.BytesIO(stored["dates"].tobytes()))["date"].to_list()
            state = cls(
                symbols=stored["symbols"].tolist(),
                decided_at=dates[0],
                last_date=dates[1],
                book=Book(stored["shares"], stored["cash"]),
                weights=stored["weights"],
                equity=float(meta["equity"]),
                history=pl.read_ipc(io.BytesIO(stored["history"].tobytes())),
                config_digest=meta["config_digest"],
            )
        return state, meta["built_from"]

    def bars_on_last_date(self) -> pl.DataFrame:
        """The stored bars of the last bar date (``HISTORY_COLUMNS``), sorted by symbol."""
        return self.history.filter(pl.col("timestamp") == self.last_date).sort("symbol")


def _history(bars: pl.DataFrame, risk_window: int) -> pl.DataFrame:
    """Each symbol's last ``risk_window + 2`` bars: the volatility and ADV of the last two bar
    dates (the next period's decision and trade rows) and every later one read no further
    back, and the last close is among them."""
    return (
        bars.select(HISTORY_COLUMNS)
        .sort("symbol", "timestamp")
        .group_by("symbol", maintain_order=True)
        .tail(risk_window + 2)
    )


def extend_backtest(
    state: BacktestState, bars: pl.DataFrame, signals: pl.DataFrame, config: BookConfig
) -> tuple[BacktestResult | None, BacktestState]:
    """The periods after ``state`` and the state after them (None and ``state``: no new bar
    date), from ``bars`` of the dates after its last date and ``signals`` (timestamp, symbol,
    score) of its decision date on: the periods a run over the whole history gives there.

    A symbol new in ``bars`` joins the book unheld. Raises :class:`NotExtendable` when
    ``config`` is not the one the state was built under or cannot be extended.
    """
    if (reason := extendable(config)) is not None:
        raise NotExtendable(reason)
    if config_digest(config) != state.config_digest:
        raise NotExtendable("the backtest config changed")
    later = bars.select(HISTORY_COLUMNS).filter(pl.col("timestamp") > state.last_date)
    if later.height == 0:
        return None, state
    history = pl.concat([state.history, later])
    panel = MarketPanel.from_bars(history, config.risk_window)
    start = panel.dates.index(state.decided_at)
    prices = panel.marks()[start:]  # a name without a bar here: its last close, maybe before
    window = panel.window(start, len(panel.dates))
    book = _reindexed(state, panel.symbols)
    scores = window.align_scores(signals.filter(pl.col("timestamp") >= state.decided_at))
    first, path = drift_path(window, scores, prices, config, book)
    result = path_result(window, prices, first, path, config, state.equity)
    after = BacktestState(
        symbols=panel.symbols,
        decided_at=result.dates[-1],
        last_date=panel.dates[-1],
        book=result.book,
        weights=result.weights[-1].copy(),
        equity=float(result.equity[-1]),
        history=_history(history, config.risk_window),
        config_digest=state.config_digest,
    )
    return result, after


def _reindexed(state: BacktestState, symbols: list[str]) -> Book:
    """The state's book over ``symbols`` (its own and maybe new ones, which are unheld)."""
    if symbols == state.symbols:
        return state.book
    shares = np.zeros(len(symbols))
    shares[np.searchsorted(symbols, state.symbols)] = state.book.shares
    return Book(shares, state.book.cash)


def extend_daily(previous: pl.DataFrame, result: BacktestResult) -> pl.DataFrame:
    """``previous`` (a backtest's ``daily`` frame) followed by ``result``'s, with the drawdown
    over the whole equity curve: the frame a run over the whole history gives."""
    rows = pl.concat([previous.drop("drawdown"), result.daily.drop("drawdown")])
    equity = np.concatenate([[result.capital], rows["equity"].to_numpy()])
    return rows.with_columns(pl.Series("drawdown", drawdown(equity)[1:]))


@dataclass(frozen=True)
class DailyRun:
    """A backtest's ``daily`` frame and ``metrics`` over the whole history, the last target
    ``weights`` over ``symbols``, the ``state`` that extends it (None: a book that is not
    extended) and how many trade dates this run computed (``new_periods``)."""

    daily: pl.DataFrame
    metrics: dict[str, float]
    symbols: list[str]
    weights: np.ndarray
    state: BacktestState | None
    new_periods: int


def run_whole(
    panel: MarketPanel, scores: np.ndarray, bars: pl.DataFrame, config: BookConfig
) -> DailyRun:
    """The backtest of ``scores`` on ``panel`` (built from ``bars``) over the whole history."""
    result = run_panel_backtest(panel, scores, config)
    state = BacktestState.after(result, bars, config) if extendable(config) is None else None
    weights = result.weights[-1]
    return DailyRun(result.daily, result.metrics, panel.symbols, weights, state, len(result.dates))


def run_extended(
    state: BacktestState,
    daily: pl.DataFrame,
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: BookConfig,
) -> DailyRun:
    """``daily`` (the whole-history frame ``state`` ended) extended by the later ``bars`` and
    ``signals`` (see :func:`extend_backtest`), metrics over the whole of it: what
    :func:`run_whole` gives on the whole history. Raises :class:`NotExtendable` when ``daily``
    does not end where ``state`` does (another run wrote it) or the state cannot be extended.
    """
    ends = daily.height > 0 and daily["timestamp"][-1] == state.decided_at
    if not ends or float(daily["equity"][-1]) != state.equity:
        raise NotExtendable("the stored daily frame does not end where the stored state does")
    result, after = extend_backtest(state, bars, signals, config)
    if result is not None:
        daily = extend_daily(daily, result)
    metrics = performance_metrics(daily["net_return"].to_numpy(), daily["turnover"].to_numpy())
    periods = 0 if result is None else len(result.dates)
    return DailyRun(daily, metrics, after.symbols, after.weights, after, periods)
