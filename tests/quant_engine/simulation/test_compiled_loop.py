"""The compiled bar loop gives what the Python loop gives: bars, fills, signals, artifacts."""

from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import pytest
from polars.testing import assert_frame_equal

from quant_engine.backtest import CostModel
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation import (
    BarPanel,
    BarSnapshot,
    Momentum,
    RiskLimits,
    Signal,
    SimulationConfig,
    Simulator,
    SmaCrossover,
)

COSTS = CostModel(commission_bps=5.0, half_spread_bps=2.0, impact_coef=0.0)


class PerBar:
    """The same strategy through its per-bar hook only (no panel form): the Python loop."""

    def __init__(self, strategy: SmaCrossover | Momentum) -> None:
        self.strategy = strategy

    def start(self, symbols: list[str]) -> None:
        self.strategy.start(symbols)

    def on_bar(self, bar: BarSnapshot) -> Signal | None:
        return self.strategy.on_bar(bar)


def _market(seed: int, n_bars: int = 500, n: int = 6) -> BarPanel:
    """A random market with gaps, a late listing, a delisting and opens missing alone."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n_bars, n)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    holes = rng.random(close.shape) < 0.08
    holes[:90, 1] = True  # listed late
    holes[380:, 2] = True  # delisted
    close[holes] = open_[holes] = np.nan
    open_[rng.random(close.shape) < 0.03] = np.nan
    days = [date(2020, 1, 1) + timedelta(days=d) for d in range(n_bars)]
    return BarPanel.from_arrays(open_, close, timestamps=days)


def _both(config: SimulationConfig, strategy, panel: BarPanel, **kwargs):
    compiled = Simulator(config, strategy(), **kwargs)
    python = Simulator(config, PerBar(strategy()), **kwargs)
    assert compiled._compiles(panel) and not python._compiles(panel)
    return compiled.run(panel), python.run(panel)


def _assert_same(a, b) -> None:
    assert_frame_equal(a.bars, b.bars, check_exact=True)
    assert_frame_equal(a.trades, b.trades, check_exact=True)
    assert_frame_equal(a.signals, b.signals, check_exact=True)
    assert (a.status, a.active_from, a.final_equity) == (b.status, b.active_from, b.final_equity)
    assert a.metrics.keys() == b.metrics.keys()
    for key, value in a.metrics.items():
        assert value == b.metrics[key] or (value != value and b.metrics[key] != b.metrics[key])


RULES = {
    "sleeves": {"mode": "long_only", "allocation": "per_symbol"},
    "sleeves_long_short_lots": {"mode": "long_short", "allocation": "per_symbol", "lot_size": 10},
    "top_k": {"mode": "long_only", "top_k": 2, "cash_buffer": 0.05, "min_trade_value": 2e3},
    "long_short": {"mode": "long_short", "top_k": 2, "max_weight": 0.2, "dust_weight": 0.01},
    "min_scores": {"mode": "long_only", "top_k": 2, "min_valid_scores": 5, "reserve_costs": True},
}


def _setup(rules: str, **settings) -> tuple[SimulationConfig, Callable[[], object]]:
    """A run's config under the rule set ``rules`` and a factory of its strategy (SMA crossover
    for sleeves, momentum for ranked books)."""
    strategy = (lambda: SmaCrossover(5, 20)) if "sleeves" in rules else (lambda: Momentum(10))
    config = SimulationConfig(
        capital=1e6, costs=COSTS, portfolio=ConstructionConfig(**RULES[rules]), **settings
    )
    return config, strategy


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("rules", sorted(RULES))
@pytest.mark.parametrize("fill_at", ["next_open", "same_close"])
@pytest.mark.parametrize("mark", ["ffill", "exact"])
def test_compiled_loop_equals_python_loop(seed, rules, fill_at, mark):
    panel = _market(seed)
    config, strategy = _setup(
        rules,
        fill_at=fill_at,
        mark=mark,
        limits=RiskLimits(drawdown_stop=0.25 if seed == 2 else None),
    )
    compiled, python = _both(config, strategy, panel)
    assert compiled.trades.height > 20
    _assert_same(compiled, python)


def test_drawdown_stop_halts_alike():
    panel = _market(4)
    config = SimulationConfig(
        costs=COSTS,
        portfolio=ConstructionConfig(mode="long_short", allocation="per_symbol"),
        limits=RiskLimits(drawdown_stop=0.05),
    )
    compiled, python = _both(config, lambda: SmaCrossover(5, 20), panel)
    assert compiled.status == "halted"
    assert "drawdown_stop" in compiled.trades["reason"].to_list()
    _assert_same(compiled, python)


def test_progress_cancel_and_artifacts_alike(tmp_path):
    """Progress calls, a cancel from the progress callback, and the run's trade log."""
    panel = _market(5)
    config = SimulationConfig(
        costs=COSTS,
        portfolio=ConstructionConfig(mode="long_only", allocation="per_symbol"),
        progress_interval=64,
    )

    class Token:
        def __init__(self) -> None:
            self.set = False

        def is_set(self) -> bool:
            return self.set

    runs = []
    for folder, strategy in (("compiled", SmaCrossover(5, 20)), ("python", None)):
        calls: list = []
        token = Token()

        def progress(done, total, info, calls=calls, token=token):
            calls.append((done, total, info))
            token.set = done >= 320

        result = Simulator(
            config,
            strategy or PerBar(SmaCrossover(5, 20)),
            artifacts_root=tmp_path / folder,
            progress=progress,
            cancel=token,
        ).run(panel)
        runs.append((result, calls, (result.artifacts / "trades.jsonl").read_text()))
    (compiled, calls, log), (python, python_calls, python_log) = runs
    assert compiled.status == "cancelled" and compiled.bars.height == 320
    assert calls == python_calls
    assert log == python_log and log.count("\n") == compiled.trades.height
    _assert_same(compiled, python)


LIMITS = {
    "gross": {"max_gross_exposure": 0.4},
    "kelly": {"kelly_fraction": 0.6},
    "kelly_gross_stop": {"kelly_fraction": 0.8, "max_gross_exposure": 0.5, "drawdown_stop": 0.1},
    "turnover": {"turnover_cap": 0.05},
    "all": {"kelly_fraction": 0.9, "max_gross_exposure": 0.6, "turnover_cap": 0.1},
}


@pytest.mark.parametrize("limits", sorted(LIMITS))
@pytest.mark.parametrize("rules", ["sleeves", "sleeves_long_short_lots", "top_k", "long_short"])
@pytest.mark.parametrize("fill_at", ["next_open", "same_close"])
def test_weight_limits_alike(limits, rules, fill_at):
    """The Kelly fraction, the gross exposure cap (per sleeve: from the book's sleeves at the
    decision) and the turnover cap scale the compiled loop's trades as the Python loop's."""
    panel = _market(3)
    config, strategy = _setup(rules, fill_at=fill_at, limits=RiskLimits(**LIMITS[limits]))
    compiled, python = _both(config, strategy, panel)
    unlimited = Simulator(replace(config, limits=RiskLimits()), strategy()).run(panel)
    assert compiled.trades.height > 20
    assert not compiled.bars["gross_exposure"].equals(unlimited.bars["gross_exposure"])
    _assert_same(compiled, python)
