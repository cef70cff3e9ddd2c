"""Account strategies in the simulator: component strategies, external models, exits at their
level inside the bar, caps, costs, the drawdown stop, progress and cancellation."""

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from quant_assets.cli import main
from quant_engine.backtest import CostModel
from quant_engine.simulation import (
    BarPanel,
    ComponentStrategy,
    Momentum,
    RiskLimits,
    ScoreTable,
    SimulationConfig,
    Simulator,
    SmaCrossover,
)
from quant_engine.simulation.runner import component_strategy
from quant_engine.strategy import (
    Decisions,
    ExitRules,
    FixedFractionSizer,
    OrderIntent,
    SignalEntryRule,
    StrategyContext,
    TargetWeight,
    VolatilityTargetSizer,
)

FREE = CostModel(0.0, 0.0, 0.0)
REPO = Path(__file__).resolve().parents[3]
README = REPO / "README.md"
DAY = timedelta(days=1)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _panel(rows: list[tuple[float, float, float, float]], symbols=("A",)) -> BarPanel:
    """One bar per row (open, high, low, close), the same for every symbol, daily from T0."""
    ohlc = np.array(rows, dtype=float)
    wide = {k: np.repeat(ohlc[:, [i]], len(symbols), axis=1) for i, k in enumerate("ohlc")}
    return BarPanel(
        [T0 + i * DAY for i in range(len(rows))],
        list(symbols),
        wide["o"],
        wide["h"],
        wide["l"],
        wide["c"],
        np.full(wide["c"].shape, 1e6),
    )


class _BuyOnce:
    """Buys 100 shares of the first symbol at the first close; ``exits`` guard it."""

    def __init__(self, exits: ExitRules) -> None:
        self.exits = exits
        self.seen = []

    def start(self, symbols):
        self.symbol = symbols[0]

    def on_close(self, bar, account):
        self.seen.append(
            (account.cash, account.equity, dict(account.holdings()), account.fills.height)
        )
        if bar.index == 0:
            return Decisions(bar.timestamp, orders=(OrderIntent(self.symbol, 100.0, "go"),))
        return None


def _run(strategy, panel, **config):
    return Simulator(SimulationConfig(capital=1e5, costs=FREE, **config), strategy).run(panel)


FLAT = (100.0, 100.5, 99.5, 100.0)


def test_a_stop_fills_at_its_level_inside_the_bar_and_at_the_open_on_a_gap():
    stop = ExitRules(stop_loss=0.05)
    through = _run(_BuyOnce(stop), _panel([FLAT, FLAT, (97, 98, 93, 94), (92, 93, 90, 91)]))
    sold = through.trades.filter(pl.col("side") == "sell").row(0, named=True)
    assert (sold["price"], sold["reason"]) == (95.0, "stop_loss")  # not the next open, 92
    assert sold["timestamp"] == T0 + 2 * DAY  # inside the bar that traded through 95
    assert sold["realized_pnl"] == pytest.approx(-500.0)
    gap = _run(_BuyOnce(stop), _panel([FLAT, FLAT, FLAT, (92, 93, 90, 91)]))
    sold = gap.trades.filter(pl.col("side") == "sell").row(0, named=True)
    assert (sold["price"], sold["reason"], sold["timestamp"]) == (92.0, "stop_loss", T0 + 3 * DAY)
    same_bar = _run(_BuyOnce(stop), _panel([FLAT, (100, 101, 94, 96)]))  # entered at its open
    assert same_bar.trades["reason"].to_list() == ["entry", "stop_loss"]
    assert same_bar.trades["timestamp"].to_list() == [T0 + DAY] * 2
    no_bar = _run(_BuyOnce(stop), _panel([FLAT, (np.nan,) * 4, FLAT]))
    assert no_bar.trades.height == 0  # no bar at the fill: the order lapsed


def test_take_profit_trailing_stop_and_time_exits_fill_at_their_level():
    bars = [FLAT, FLAT, (101, 111, 100, 108)]
    target = _run(_BuyOnce(ExitRules(stop_loss=0.05, take_profit=0.1)), _panel(bars))
    assert target.trades["reason"].to_list() == ["entry", "take_profit"]
    assert target.trades["price"].to_list() == pytest.approx([100.0, 110.0])
    # Highs 100.5, 104 ratchet a 3% trailing stop to 100.88; the last bar trades through it.
    trail = [FLAT, FLAT, (101, 104, 100.9, 103), (102, 102.5, 99, 100)]
    trailed = _run(_BuyOnce(ExitRules(trailing_stop=0.03)), _panel(trail))
    assert trailed.trades["reason"].to_list() == ["entry", "trailing_stop"]
    assert trailed.trades["price"][1] == pytest.approx(104 * 0.97)
    timed = _run(_BuyOnce(ExitRules(max_bars=2)), _panel([FLAT, FLAT, FLAT, FLAT]))
    assert timed.trades["reason"].to_list() == ["entry", "time"]
    assert timed.trades["timestamp"][1] == T0 + 2 * DAY  # held on bars 1 and 2, out at close


def test_the_hook_sees_holdings_cash_equity_curve_and_its_own_fills():
    strategy = _BuyOnce(ExitRules(stop_loss=0.5))
    _run(strategy, _panel([FLAT, FLAT, (100, 102, 99, 101)]))
    cash, equity, holdings, fills = strategy.seen[-1]
    assert cash == pytest.approx(1e5 - 100 * 100.0) and equity == pytest.approx(1e5 + 100.0)
    assert holdings["A"].quantity == 100.0 and holdings["A"].average_price == 100.0
    assert fills == 1
    assert strategy.seen[0][2] == {} and strategy.seen[0][3] == 0


class _Model:
    """An external model: half of equity in A by weight, and orders in B (one limit)."""

    def decide(self, ctx: StrategyContext) -> Decisions:
        assert ctx.bars["timestamp"].max() == ctx.timestamp  # nothing after the close
        assert ctx.equity_curve["timestamp"].max() == ctx.timestamp
        if ctx.holding("A") is not None:
            return Decisions(ctx.timestamp)
        return Decisions(
            ctx.timestamp,
            weights=(TargetWeight("A", 0.5, "half in A"),),
            orders=(
                OrderIntent("B", 10.0, "ten B"),
                OrderIntent("B", 5.0, "five B if cheap", limit_price=50.0),
            ),
        )


def test_an_external_models_weights_and_orders_are_executed_at_the_next_open():
    result = _run(_Model(), _panel([FLAT, FLAT, FLAT], symbols=("A", "B")))
    first = result.trades.filter(pl.col("timestamp") == T0 + DAY)
    assert dict(zip(first["symbol"], first["quantity"], strict=True)) == {"A": 500.0, "B": 10.0}
    assert first["reason"].to_list() == ["entry", "entry"]
    assert result.trades.height == 2  # the limit at 50 was never reached: it lapsed


def test_thirty_signals_at_ten_percent_use_at_most_all_of_equity_and_position_caps_hold():
    symbols = [f"S{i:02d}" for i in range(30)]
    rows = [(99.0 + i, 101.0 + i, 98.0 + i, 100.0 + i) for i in range(30)]  # open: last close
    panel = _panel(rows, symbols)
    longs = pl.DataFrame(
        {
            "timestamp": [t for t in panel.timestamps for _ in symbols],
            "symbol": symbols * len(panel.timestamps),
            "score": 1.0,
        }
    )
    strategy = ComponentStrategy(
        signals=(ScoreTable(longs),),
        entry=SignalEntryRule(sizer=FixedFractionSizer(fraction=0.1)),
        volatility_window=5,
    )
    result = _run(strategy, panel)
    gross = result.bars["gross_exposure"] / result.bars["equity_close"]
    assert 0.99 < gross.max() <= 1.0 + 1e-9  # not 3.0
    capped = ComponentStrategy(
        signals=(ScoreTable(longs),),
        entry=SignalEntryRule(sizer=FixedFractionSizer(fraction=0.1), max_positions=4),
        volatility_window=5,
    )
    assert _run(capped, panel).bars["n_positions"].max() == 4


def test_entries_per_symbol_are_capped_in_the_simulator():
    rows = [(99.0 + i, 101.0 + i, 98.0 + i, 100.0 + i) for i in range(20)]
    panel = _panel(rows)
    longs = pl.DataFrame({"timestamp": panel.timestamps, "symbol": "A", "score": 1.0})
    grid = ComponentStrategy(
        signals=(ScoreTable(longs),),
        entry=SignalEntryRule(
            sizer=FixedFractionSizer(fraction=0.1), add_to_positions=True, max_entries_per_symbol=3
        ),
        volatility_window=5,
    )
    trades = _run(grid, panel).trades
    assert trades["reason"].to_list() == ["entry"] * 3  # then "3 entries open in A"
    assert grid.last_plan.rejected == {"A": "3 entries open in A (max_entries_per_symbol 3)"}


def _composition(**entry) -> ComponentStrategy:
    return ComponentStrategy(
        signals=(SmaCrossover(5, 20), SmaCrossover(10, 30), Momentum(10)),
        entry=SignalEntryRule(sizer=VolatilityTargetSizer(target_volatility=0.002), **entry),
        exits=ExitRules(stop_loss=0.05, take_profit=0.1, trailing_stop=0.03),
    )


def test_costs_the_drawdown_stop_and_artifacts_work_for_a_component_strategy(
    small_market, tmp_path
):
    panel = BarPanel.from_bars(small_market.bars)
    costly = SimulationConfig(capital=1e6, costs=CostModel(10.0, 0.0, 0.0))
    result = Simulator(costly, _composition(), artifacts_root=tmp_path).run(panel)
    trades = result.trades
    assert set(trades["reason"]) >= {"entry", "trailing_stop"}
    assert trades["cost"].to_numpy() == pytest.approx(np.abs(trades["notional"]) * 1e-3)
    lines = (result.artifacts / "trades.jsonl").read_text().splitlines()
    assert [json.loads(x)["reason"] for x in lines] == trades["reason"].to_list()
    stopped = SimulationConfig(capital=1e6, costs=FREE, limits=RiskLimits(drawdown_stop=0.01))
    halted = Simulator(stopped, _composition()).run(panel)
    assert halted.status == "halted"
    last = halted.trades.filter(pl.col("timestamp") == halted.trades["timestamp"].max())
    assert set(last["reason"]) == {"drawdown_stop"} and (last["position"] == 0).all()
    with pytest.raises(ValueError, match="caps its entries in its entry rule"):
        Simulator(SimulationConfig(limits=RiskLimits(turnover_cap=0.5)), _composition())


def test_progress_and_cancellation_work_for_a_component_strategy(small_market):
    panel = BarPanel.from_bars(small_market.bars)
    cancel = threading.Event()
    seen = []

    def progress(done, total, info):
        seen.append((done, total, info["drawdown"]))
        if done >= 100:
            cancel.set()

    config = SimulationConfig(costs=FREE, progress_interval=50)
    result = Simulator(config, _composition(), progress=progress, cancel=cancel).run(panel)
    assert result.status == "cancelled" and result.bars.height == 100
    assert [(d, t) for d, t, _ in seen] == [(50, len(panel)), (100, len(panel))]
    assert all(dd <= 0 for _, _, dd in seen)


def test_the_readme_composition_runs_from_python_in_at_most_15_lines():
    text = README.read_text()
    block = re.search(r"<!-- components-example -->\n```python\n(.*?)```", text, re.S).group(1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) <= 15
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    result = scope["result"]
    assert result.status == "completed" and result.trades.height > 0
    assert {"entry", "trailing_stop", "take_profit"} <= set(result.trades["reason"])


def test_configs_components_yaml_runs_through_the_cli(tmp_path, capsys):
    config = REPO / "configs" / "components.yaml"
    assert main(["run", "-c", str(config), "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    run = Path(summary["artifacts"])
    trades = pl.read_parquet(run / "trades.parquet")
    assert {"entry", "signal", "trailing_stop"} <= set(trades["reason"])
    assert summary["metrics"]["n_fills"] == trades.height
    manifest = json.loads((run / "manifest.json").read_text())
    strategy = manifest["config"]["strategy"]
    assert strategy["name"] == "components"
    assert strategy["params"]["exits"] == {
        "stop_loss": 0.05,
        "take_profit": 0.1,
        "trailing_stop": 0.03,
    }
    built = component_strategy(yaml.safe_load(config.read_text())["strategy"])
    assert [type(d).__name__ for d in built.signals] == ["SmaCrossover", "SmaCrossover", "Momentum"]
    assert type(built.entry.entry_filter).__name__ == "AllOf"
    assert type(built.entry.sizer).__name__ == "VolatilityTargetSizer"


COMPONENTS_BASE = {
    "run": {"name": "c", "artifacts_dir": "out"},
    "data": {"source": "synthetic", "n_symbols": 3, "n_days": 120, "seed": 2},
    "strategy": {
        "name": "components",
        "signals": [{"name": "momentum", "lookback": 5}],
        "sizer": "fixed_fraction",
    },
}
BAD_COMPONENTS = {
    "unknown_key": ({"sizr": "kelly"}, "strategy: unknown key(s) ['sizr']"),
    "unknown_sizer": ({"sizer": {"name": "huge"}}, "strategy.sizer.name: expected one of"),
    "sizer_field": ({"sizer": {"name": "kelly", "kelly": 1}}, "strategy.sizer: unknown key(s)"),
    "sizer_value": ({"sizer": {"name": "kelly", "kelly_multiplier": 3.0}}, "strategy.sizer"),
    "no_sizer": ({"sizer": None}, "strategy.sizer"),
    "entry_key": ({"entry": {"max_pos": 3}}, "strategy.entry: unknown key(s) ['max_pos']"),
    "entry_type": ({"entry": {"max_positions": "many"}}, "strategy.entry.max_positions"),
    "exit_value": ({"exits": {"stop_loss": 2.0}}, "strategy.exits"),
    "exit_key": ({"exits": {"stop": 0.1}}, "strategy.exits: unknown key(s) ['stop']"),
    "filter": ({"entry_filters": ["lunar"]}, "strategy.entry_filters[0].name"),
    "detector": ({"signals": [{"name": "sma_crossover", "fast": 9, "slow": 3}]}, "signals[0]"),
    "no_detector": ({"signals": []}, "strategy.signals"),
    "voter": ({"aggregate": "loudest"}, "strategy.aggregate.name"),
}


@pytest.mark.parametrize("case", sorted(BAD_COMPONENTS))
def test_bad_component_keys_are_one_line_naming_the_key_and_exit_2(tmp_path, capsys, case):
    change, key = BAD_COMPONENTS[case]
    strategy = {**COMPONENTS_BASE["strategy"], **change}
    strategy = {k: v for k, v in strategy.items() if v is not None}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**COMPONENTS_BASE, "strategy": strategy}))
    assert main(["run", "-c", str(path)]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("quant run: ") and key in line, line


@pytest.mark.parametrize(
    ("section", "value", "key"),
    [
        ("run", {"simulator": "vectorized"}, "run.simulator: event_driven"),
        ("limits", {"max_gross_exposure": 1.0}, "caps its entries in strategy.entry"),
        ("walk_forward", {"grid": {"lookback": [3, 5]}}, "walk_forward.grid"),
    ],
)
def test_component_runs_refuse_what_applies_to_weight_strategies(
    tmp_path, capsys, section, value, key
):
    path = tmp_path / "c.yaml"
    config = {**COMPONENTS_BASE, section: {**COMPONENTS_BASE.get(section, {}), **value}}
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert key in line, line
