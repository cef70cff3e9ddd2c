"""Running a parent order against bars: shortfall arithmetic, no lookahead, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_engine.execution.algorithms import POV, TWAP, VWAP, ImplementationShortfall
from quant_engine.execution.bars import BarExecutionConfig, SymbolBars, run_on_bars
from quant_engine.execution.commission import BpsCommission, PerShare
from quant_engine.execution.impact import (
    CompositeImpact,
    FixedSpread,
    KyleLambda,
    SquareRootImpact,
    VolumeShare,
)
from quant_engine.execution.report import ParentOrder
from quant_engine.execution.study import StudyConfig, execution_cost_table, shortfall_summary
from quant_engine.orderbook import Side

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_bars(n: int = 40, seed: int = 0, symbol: str = "X") -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    return pl.DataFrame(
        {
            "symbol": symbol,
            "timestamp": [T0 + timedelta(days=i) for i in range(n)],
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "volume": rng.integers(50_000, 150_000, n).astype(float),
        }
    )


def test_shortfall_adds_up_price_paid_and_commission_against_the_arrival_price():
    bars = SymbolBars.from_frame(make_bars(), "X")
    parent = ParentOrder(Side.BUY, 1000, T0 + timedelta(days=24))
    config = BarExecutionConfig(n_slots=2, fill_price="close")
    report = run_on_bars(parent, bars, TWAP(), FixedSpread(10), BpsCommission(1), config)
    arrival = bars.close[24]
    paid = bars.close[25:27] * 1.001
    assert report.arrival_price == arrival
    assert report.children["child_qty"].to_list() == [500, 500]
    assert report.children["price"].to_list() == pytest.approx(paid.tolist())
    assert report.children["timestamp"].to_list() == [T0 + timedelta(days=d) for d in (25, 26)]
    notional = 1000 * arrival
    assert report.execution_bps == pytest.approx(
        (500 * paid - 500 * arrival).sum() / notional * 1e4
    )
    assert report.commission_bps == pytest.approx(1e-4 * 500 * paid.sum() / notional * 1e4)
    assert report.opportunity_bps == 0.0
    assert report.shortfall_bps == pytest.approx(report.execution_bps + report.commission_bps)
    # a sell pays the spread the other way
    sell_parent = ParentOrder(Side.SELL, 1000, parent.start)
    sell = run_on_bars(sell_parent, bars, TWAP(), FixedSpread(10), BpsCommission(0), config)
    assert sell.children["price"].to_list() == pytest.approx((bars.close[25:27] * 0.999).tolist())


def test_unfilled_quantity_is_charged_as_opportunity_cost():
    bars = SymbolBars.from_frame(make_bars(), "X")
    parent = ParentOrder(Side.BUY, 100_000, bars.times[24])
    report = run_on_bars(
        parent, bars, TWAP(), VolumeShare(0.05, 0.0), PerShare(0.0), BarExecutionConfig(n_slots=3)
    )
    caps = np.floor(0.05 * bars.volume[25:28]).astype(int)
    assert report.children["filled_qty"].to_list() == caps.tolist()
    assert report.unfilled == 100_000 - caps.sum() > 0
    moved = report.unfilled * (bars.close[27] - bars.close[24])
    assert report.opportunity_bps == pytest.approx(moved / (100_000 * bars.close[24]) * 1e4)
    # the algorithm resizes from what actually filled: the last slot asks for all that is left
    assert report.children["child_qty"][-1] == 100_000 - caps[:2].sum()


def test_permanent_impact_moves_the_price_for_later_children():
    bars = SymbolBars.from_frame(make_bars(), "X")
    parent = ParentOrder(Side.BUY, 2000, bars.times[24])
    config = BarExecutionConfig(n_slots=2, fill_price="open")
    report = run_on_bars(parent, bars, TWAP(), KyleLambda(1e-3), PerShare(0.0), config)
    first, second = bars.open[25:27]
    p1 = first * (1 + 1e-3 * 1000 / first)
    p2 = second * (1 + 1e-3 * 1000 / first + 1e-3 * 1000 / second)
    assert report.children["price"].to_list() == pytest.approx([p1, p2])


@pytest.mark.parametrize(
    "algorithm", [TWAP(), VWAP(lookback=4), POV(rate=0.02), ImplementationShortfall(3.0)]
)
@pytest.mark.parametrize("cut", [26, 28, 31])
def test_rewriting_future_bars_changes_no_earlier_child(algorithm, cut):
    frame = make_bars(seed=1)
    impact = CompositeImpact((FixedSpread(2), SquareRootImpact(0.5), VolumeShare(0.03, 0.1)))
    config = BarExecutionConfig(n_slots=8)
    future = make_bars(seed=99)
    rewritten = pl.concat([frame[:cut], future[cut:].with_columns(frame["timestamp"][cut:])])
    parent = ParentOrder(Side.BUY, 20_000, frame["timestamp"][24])
    before, after = (
        run_on_bars(
            parent, SymbolBars.from_frame(f, "X"), algorithm, impact, BpsCommission(1), config
        ).children
        for f in (frame, rewritten)
    )
    done = cut - 25  # slots whose bar lies before the cut
    assert after[:done].equals(before[:done])
    # the child trading in the first rewritten bar was sized before that bar
    assert after["child_qty"][done] == before["child_qty"][done]
    assert not after.equals(before)  # the rewrite did reach later children


def test_bad_inputs_raise_naming_the_problem():
    frame = make_bars()
    bars = SymbolBars.from_frame(frame, "X")

    def run(parent):
        return run_on_bars(parent, bars, TWAP(), FixedSpread(1), PerShare(0), BarExecutionConfig())

    with pytest.raises(ValueError, match="is not a bar of 'X'"):
        run(ParentOrder(Side.BUY, 10, T0 + timedelta(hours=5)))
    with pytest.raises(ValueError, match=r"5 bars needed after .* 2 exist"):
        run(ParentOrder(Side.BUY, 10, bars.times[37]))
    with pytest.raises(ValueError, match="need at least 2 bars up to the start"):
        run(ParentOrder(Side.BUY, 10, bars.times[0]))
    with pytest.raises(ValueError, match="parent quantity must be positive"):
        ParentOrder(Side.BUY, 0, T0)
    shuffled = frame.with_columns(pl.col("timestamp").reverse())
    with pytest.raises(ValueError, match="not in strictly increasing time at row 1"):
        SymbolBars.from_frame(shuffled, "X")
    with pytest.raises(ValueError, match="no bars for symbol 'Y'"):
        SymbolBars.from_frame(frame, "Y")
    with pytest.raises(ValueError, match="fill_price must be one of"):
        BarExecutionConfig(fill_price="mid")


def test_study_runs_every_algorithm_on_the_same_parents_reproducibly():
    bars = pl.concat([make_bars(60, seed=s, symbol=f"S{s}") for s in range(3)])
    config = StudyConfig(pct_adv=0.02, n_starts=4, execution=BarExecutionConfig(n_slots=5))
    table = execution_cost_table(bars, config)
    assert table.height == 3 * 4 * 4
    assert table.equals(execution_cost_table(bars, config))
    parents = table.group_by("symbol", "start").agg(pl.col("parent_qty").n_unique())
    assert parents["parent_qty"].to_list() == [1] * 12
    assert table["pct_adv"].to_numpy() == pytest.approx(0.02, rel=1e-3)
    assert (table["filled_qty"] == table["parent_qty"]).all()
    summary = shortfall_summary(table)
    assert summary["algorithm"].to_list() == ["is", "pov", "twap", "vwap"]
    twap = table.filter(pl.col("algorithm") == "twap")["shortfall_bps"]
    assert summary.filter(pl.col("algorithm") == "twap")["mean_bps"][0] == pytest.approx(
        twap.mean()
    )
    other_seed = execution_cost_table(bars, StudyConfig(pct_adv=0.02, n_starts=4, seed=1))
    assert not other_seed["start"].equals(table["start"])


def test_children_trade_only_on_bars_that_exist():
    frame = make_bars()
    gappy = frame.filter(~pl.int_range(pl.len()).is_in([26, 27, 30]))  # a holiday, a halt, ...
    bars = SymbolBars.from_frame(gappy, "X")
    parent = ParentOrder(Side.BUY, 5_000, T0 + timedelta(days=24))
    report = run_on_bars(
        parent, bars, TWAP(), FixedSpread(1), PerShare(0), BarExecutionConfig(n_slots=4)
    )
    expected_days = [25, 28, 29, 31]
    assert report.children["timestamp"].to_list() == [T0 + timedelta(days=d) for d in expected_days]
    assert report.children["child_qty"].sum() == 5_000
