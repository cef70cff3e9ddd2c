"""The vectorized backtest against a plain per-bar, per-share reference simulation."""

import itertools
import math

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest import (
    BookConfig,
    CostModel,
    MarketPanel,
    run_backtest,
    run_panel_backtest,
    target_weights,
)
from quant_engine.portfolio import ConstructionConfig

COSTS = CostModel(commission_bps=5.0, half_spread_bps=7.0, impact_coef=0.3)


def reference_final_equity(bars: pl.DataFrame, signals: pl.DataFrame, cfg: BookConfig) -> float:
    """Trade shares bar by bar: scores at close t, orders filled at the open of t+1."""
    symbols = sorted(set(bars["symbol"]))
    dates = sorted(set(bars["timestamp"]))
    rows = {(r["symbol"], r["timestamp"]): r for r in bars.iter_rows(named=True)}
    scores = {(r["symbol"], r["timestamp"]): r["score"] for r in signals.iter_rows(named=True)}
    window = cfg.risk_window

    def sigma(s, d):  # stdev of the last `window` log returns up to day d
        if d < window:
            return None
        closes = [rows[(s, dates[i])]["close"] for i in range(d - window, d + 1)]
        logs = [math.log(b / a) for a, b in itertools.pairwise(closes)]
        mean = sum(logs) / window
        return math.sqrt(sum((x - mean) ** 2 for x in logs) / (window - 1))

    def adv(s, d):  # mean dollar volume of the last `window` days up to day d
        if d < window - 1:
            return None
        days = [rows[(s, dates[i])] for i in range(d - window + 1, d + 1)]
        return sum(r["close"] * r["volume"] for r in days) / window

    cash, shares = cfg.capital, dict.fromkeys(symbols, 0.0)
    for d in range(len(dates) - 2):
        price = {s: rows[(s, dates[d + 1])]["open"] for s in symbols}
        equity = cash + sum(shares[s] * price[s] for s in symbols)
        eligible = [
            s for s in symbols if (s, dates[d]) in scores and sigma(s, d) is not None and adv(s, d)
        ]
        ranked = sorted(eligible, key=lambda s: (-scores[(s, dates[d])], symbols.index(s)))
        weight = dict.fromkeys(symbols, 0.0)
        if cfg.portfolio.mode == "long_only" and ranked:
            k = min(cfg.portfolio.top_k, len(ranked))
            for s in ranked[:k]:
                weight[s] = 1.0 / k
        elif cfg.portfolio.mode == "long_short":
            k = min(cfg.portfolio.top_k, len(ranked) // 2)
            for s in ranked[:k] if k else []:
                weight[s] = 0.5 / k
            for s in ranked[len(ranked) - k :] if k else []:
                weight[s] = -0.5 / k
        for s in symbols:
            target = weight[s] * equity / price[s]
            notional = (target - shares[s]) * price[s]
            q = abs(notional)
            cost = q * COSTS.linear_rate
            vol, dollar_volume = sigma(s, d), adv(s, d)
            if vol is not None and dollar_volume:
                cost += COSTS.impact_coef * vol * q * math.sqrt(q / dollar_volume)
            cash -= notional + cost
            shares[s] = target
    last = {s: rows[(s, dates[-1])]["open"] for s in symbols}
    return cash + sum(shares[s] * last[s] for s in symbols)


@pytest.mark.parametrize("mode", ["long_only", "long_short"])
@pytest.mark.parametrize("top_k", [1, 3, 8])
def test_matches_the_per_bar_reference_to_1e_9(market, signals, mode, top_k):
    rules = ConstructionConfig(mode=mode, top_k=top_k)
    cfg = BookConfig(capital=1e8, costs=COSTS, portfolio=rules)
    result = run_backtest(signals, market.bars, cfg)
    expected = reference_final_equity(market.bars, signals, cfg)
    assert result.final_equity == pytest.approx(expected, rel=1e-9, abs=0)
    assert result.daily["equity"][-1] == result.final_equity
    assert result.final_equity != pytest.approx(cfg.capital)  # something was traded


def test_costs_reduce_equity_and_free_trading_is_cheaper(market, signals):
    free = run_backtest(signals, market.bars, BookConfig(costs=CostModel(0, 0, 0)))
    paid = run_backtest(signals, market.bars, BookConfig(costs=COSTS))
    assert (free.daily["cost"] == 0).all() and (paid.daily["cost"] > 0).all()
    assert paid.final_equity < free.final_equity
    np.testing.assert_allclose(
        paid.daily["net_return"], paid.daily["gross_return"] - paid.daily["cost"]
    )


def test_the_past_does_not_depend_on_the_future(market, signals):
    dates = market.bars["timestamp"].unique().sort()
    cutoff = dates[100]
    later = pl.col("timestamp") > cutoff
    scrambled = market.bars.with_columns(
        pl.when(later).then(pl.col(c) * 1.7).otherwise(pl.col(c))
        for c in ("open", "high", "low", "close")
    )
    base = run_backtest(signals, market.bars).daily
    changed = run_backtest(signals, scrambled).daily
    # The period traded at the open of day i is marked at the open of day i+1.
    known = base["timestamp"] < dates[100]
    assert base.filter(known).equals(changed.filter(known))
    assert not base.equals(changed)


def test_target_weights_are_dollar_neutral_and_capped():
    scores = np.array([[3.0, 1.0, 2.0, -1.0, np.nan], [1.0, 2.0, 0.0, 0.0, 0.0]])
    eligible = np.isfinite(scores)
    ls = target_weights(
        scores, eligible, BookConfig(portfolio=ConstructionConfig(mode="long_short", top_k=2))
    )
    np.testing.assert_allclose(ls[0], [0.25, -0.25, 0.25, -0.25, 0.0])
    np.testing.assert_allclose(ls.sum(axis=1), 0.0)
    np.testing.assert_allclose(np.abs(ls).sum(axis=1), 1.0)
    few = ConstructionConfig(mode="long_only", min_valid_scores=1)  # top 10 of 4, on purpose
    lo = target_weights(scores, eligible, BookConfig(portfolio=few))
    np.testing.assert_allclose(lo.sum(axis=1), 1.0)
    assert lo[0, 4] == 0.0


def test_signals_that_never_overlap_the_bars_are_an_error(market):
    far = pl.DataFrame(
        {"symbol": ["S000"], "timestamp": [market.bars["timestamp"].max()], "score": [1.0]}
    )
    with pytest.raises(ValueError, match="no day has a tradable signal"):
        run_backtest(far, market.bars)


@pytest.mark.parametrize("gapped", [False, True])
def test_sleeves_closed_form_gives_the_cores_weights_and_the_loops_trades(gapped):
    rng = np.random.default_rng(9)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (300, 5)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.004, close.shape))
    if gapped:  # gaps, a late listing: targets change where no trade can follow them
        for rows, j in (([40, 41, 150], 1), (slice(0, 60), 2)):
            open_[rows, j] = close[rows, j] = np.nan
    # sides that flip often, with names unscored (NaN) for a while
    scores = np.where(rng.random(close.shape) < 0.2, 1.0, 0.0)
    scores = np.maximum.accumulate(scores * np.arange(300)[:, None], axis=0) % 2
    scores[rng.random(close.shape) < 0.05] = np.nan
    scores[:10] = np.nan
    blank = np.full(close.shape, np.nan)
    market = MarketPanel(list(range(300)), list("ABCDE"), open_, blank, blank, close)
    costs = CostModel(commission_bps=10.0, half_spread_bps=0.0, impact_coef=0.0)

    def book(max_weight: float) -> BookConfig:
        rules = ConstructionConfig(mode="long_only", allocation="per_symbol", max_weight=max_weight)
        return BookConfig(capital=5e5, costs=costs, portfolio=rules)

    closed = run_panel_backtest(market, scores, book(1.0))
    looped = run_panel_backtest(market, scores, book(1 - 1e-15))  # the period-by-period loop
    signals = scores[:-2]
    cores = target_weights(signals, np.isfinite(signals), book(1.0))[10:]
    assert closed.trades.shape == cores.shape and np.count_nonzero(closed.trades) > 50
    np.testing.assert_array_equal(closed.weights, cores)
    np.testing.assert_allclose(closed.trades, looped.trades, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(closed.trade_costs(), looped.trade_costs(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(closed.daily["equity"], looped.daily["equity"], rtol=1e-9)
    np.testing.assert_allclose(looped.weights, np.minimum(cores, 1 - 1e-15))


def test_scores_of_another_shape_than_the_panel_are_an_error():
    blank = np.full((5, 2), np.nan)
    market = MarketPanel(list(range(5)), ["A", "B"], np.ones((5, 2)), blank, blank)
    with pytest.raises(ValueError, match=r"scores have shape \(5, 3\), the panel \(5, 2\)"):
        run_panel_backtest(market, np.ones((5, 3)))
