"""The peers' side of ``bench/backtest_peers.py``; runs in the bench venv (vectorbt, backtrader).

Usage: ``python backtest_peers_worker.py INPUT.npz OUTPUT.npz`` (see backtest_peers.py).
"""

from __future__ import annotations

import json
import sys
import time

import backtrader as bt
import numpy as np
import pandas as pd
import vectorbt as vbt


def best_of(repeats: int, work):
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = work()
        best = min(best, time.perf_counter() - started)
    return best, out


def run_vectorbt(data: dict) -> dict:
    open_, close = pd.DataFrame(data["open"]), pd.DataFrame(data["close"])
    fee, cash = float(data["fee"]), float(data["capital"]) / open_.shape[1]
    fast_n, slow_n = int(data["fast"]), int(data["slow"])

    def shifted(frame: pd.DataFrame) -> np.ndarray:
        out = frame.shift(1, fill_value=False).to_numpy().copy()
        out[-1] = False  # the final open starts no period
        return out

    def portfolio(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
        # Decide at the close, fill at the next open, value at the open (like our timeline).
        pf = vbt.Portfolio.from_signals(
            open_, entries, exits, price=open_, fees=fee, init_cash=cash, freq="1D"
        )
        return pf.final_value().to_numpy()

    def with_indicators() -> np.ndarray:
        fast = vbt.MA.run(close, fast_n)
        slow = vbt.MA.run(close, slow_n)
        return portfolio(shifted(fast.ma_crossed_above(slow)), shifted(fast.ma_crossed_below(slow)))

    entries, exits = data["entries"], data["exits"]
    portfolio(entries, exits)  # compile numba kernels before timing
    with_indicators()
    seconds, final = best_of(10, lambda: portfolio(entries, exits))
    seconds_ind, final_ind = best_of(10, with_indicators)
    return {
        "vectorbt_seconds": seconds,
        "vectorbt_seconds_with_indicators": seconds_ind,
        "vectorbt_final": final,
        "vectorbt_final_own_indicators": final_ind,
    }


class SmaCrossSleeves(bt.Strategy):
    """SMA fast/slow crossover, one equal cash sleeve per data, all in at the next open."""

    params = (("fast", 10), ("slow", 50), ("fee", 0.001), ("sleeve", 1e4))

    def __init__(self) -> None:
        self.cross = [
            bt.ind.CrossOver(
                bt.ind.SMA(d.close, period=self.p.fast), bt.ind.SMA(d.close, period=self.p.slow)
            )
            for d in self.datas
        ]
        n = len(self.datas)
        self.pending = [0] * n
        self.held = [0.0] * n
        self.cash = [self.p.sleeve] * n
        self.index = {d: i for i, d in enumerate(self.datas)}
        self.fills: list[tuple[int, int, float, float]] = []

    def next(self) -> None:  # the bar has closed: decide
        for i, cross in enumerate(self.cross):
            if cross[0] > 0:
                self.pending[i] = 1
            elif cross[0] < 0:
                self.pending[i] = -1

    def next_open(self) -> None:  # cheat-on-open: the new bar's open is known, orders fill at it
        for i, data in enumerate(self.datas):
            signal, self.pending[i] = self.pending[i], 0
            if signal > 0 and self.held[i] == 0:
                self.buy(data=data, size=self.cash[i] / (data.open[0] * (1 + self.p.fee)))
            elif signal < 0 and self.held[i] > 0:
                self.sell(data=data, size=self.held[i])

    def notify_order(self, order) -> None:
        if order.status != order.Completed:
            if order.status in (order.Canceled, order.Margin, order.Rejected):
                raise RuntimeError(f"backtrader refused an order: {order.getstatusname()}")
            return
        i = self.index[order.data]
        size, price, comm = order.executed.size, order.executed.price, order.executed.comm
        self.held[i] += size
        self.cash[i] -= size * price + comm
        self.fills.append((len(order.data) - 1, i, size, price))


def run_backtrader(data: dict) -> dict:
    open_, close = data["open"], data["close"]
    n_bars, n_names = close.shape
    capital, fee = float(data["capital"]), float(data["fee"])
    index = pd.date_range("2000-01-03", periods=n_bars, freq="D")
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    for j in range(n_names):
        frame = pd.DataFrame(
            {
                "open": open_[:, j],
                "high": np.maximum(open_[:, j], close[:, j]),
                "low": np.minimum(open_[:, j], close[:, j]),
                "close": close[:, j],
                "volume": 1.0,
            },
            index=index,
        )
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=f"S{j:03d}")
    # A hair of headroom: with one symbol its all-in sleeve is the whole book, and the
    # rounding of size x price x (1 + fee) must not make backtrader refuse it for margin.
    cerebro.broker.setcash(capital * (1 + 1e-9))
    cerebro.broker.setcommission(commission=fee)
    cerebro.broker.set_checksubmit(False)
    cerebro.addstrategy(
        SmaCrossSleeves,
        fast=int(data["fast"]),
        slow=int(data["slow"]),
        fee=fee,
        sleeve=capital / n_names,
    )
    started = time.perf_counter()
    (strategy,) = cerebro.run()
    seconds = time.perf_counter() - started
    return {
        "backtrader_seconds": seconds,
        "backtrader_fills": np.array(strategy.fills, dtype=float),
    }


def main() -> int:
    source, target = sys.argv[1], sys.argv[2]
    data = dict(np.load(source))
    results = {**run_vectorbt(data), **run_backtrader(data)}
    arrays = {k: v for k, v in results.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in results.items() if not isinstance(v, np.ndarray)}
    versions = {"vectorbt": vbt.__version__, "backtrader": bt.__version__}
    np.savez(target, **arrays, meta=json.dumps({**scalars, "versions": versions}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
