"""One cost model: the execution study charges a parent what the backtest charges the trade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest.costs import CostModel
from quant_engine.execution.bars import BarExecutionConfig, SymbolBars, pre_trade_estimates
from quant_engine.execution.commission import BpsCommission
from quant_engine.execution.impact import FixedSpread, LinearImpact, SquareRootImpact
from quant_engine.execution.study import StudyConfig, execution_cost_table

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def gapless_bars(n: int = 60, seed: int = 3) -> pl.DataFrame:
    """Each bar opens at the last close: a parent filled at the next open pays costs only."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    return pl.DataFrame(
        {
            "symbol": "X",
            "timestamp": [T0 + timedelta(days=i) for i in range(n)],
            "open": open_,
            "high": np.maximum(open_, close),
            "low": np.minimum(open_, close),
            "close": close,
            "volume": rng.integers(50_000, 150_000, n).astype(float),
        }
    )


@pytest.mark.parametrize("law", ["square_root", "linear"])
def test_a_parent_done_in_one_child_costs_what_the_backtest_charges(law):
    costs = CostModel(commission_bps=0.0, half_spread_bps=3.0, impact_coef=0.4, impact_model=law)
    bars = gapless_bars()
    config = StudyConfig(
        pct_adv=0.08,
        n_starts=6,
        algorithms=("twap",),
        execution=BarExecutionConfig(n_slots=1, fill_price="open"),
        costs=costs,
    )
    table = execution_cost_table(bars, config)
    series = SymbolBars.from_frame(bars, "X")
    starts = [series.times.to_list().index(t) for t in table["start"]]
    for start, qty, paid_bps in zip(
        starts, table["parent_qty"], table["shortfall_bps"], strict=True
    ):
        sigma, adv = pre_trade_estimates(series, start, config.execution.estimate_window)
        arrival = float(series.close[start])
        notional = qty * arrival
        charged = costs.cost(np.array([notional]), np.array([sigma]), np.array([adv * arrival]))
        assert paid_bps == pytest.approx(float(charged[0]) / notional * 1e4, rel=1e-9)
    assert table["shortfall_bps"].min() > 3.0  # the half spread plus some impact


def test_the_study_and_the_child_models_default_to_the_one_cost_model():
    default = CostModel()
    assert StudyConfig().costs == default
    assert SquareRootImpact().coef == LinearImpact().coef == default.impact_coef
    assert FixedSpread().half_spread_bps == default.half_spread_bps
    assert BpsCommission().bps == default.commission_bps
    bars = gapless_bars()
    cheap = StudyConfig(n_starts=3, costs=CostModel(0.0, 0.0, 0.0))
    free = execution_cost_table(bars, cheap)
    paid = execution_cost_table(bars, StudyConfig(n_starts=3))
    assert (paid["shortfall_bps"] > free["shortfall_bps"]).all()  # the configured costs count
