"""Execution inside the simulator: ``exec:`` schedules, the book with latency, shortfall."""

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from quant_assets.cli import main
from quant_engine.backtest import CostModel
from quant_engine.execution.algorithms import TWAP
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation import BarPanel, Momentum, Signal, SimulationConfig, Simulator
from quant_engine.simulation.execution import UNITS, ExecutionConfig, ExecutionDesk

CONFIG = {
    "run": {"name": "exec", "seed": 3, "artifacts_dir": "out"},
    "data": {"source": "synthetic", "n_symbols": 6, "n_days": 200, "seed": 3},
    "strategy": {"name": "momentum", "params": {"lookback": 10}},
    "portfolio": {"mode": "long_short", "top_k": 2},
    "costs": {"commission_bps": 2.0, "half_spread_bps": 3.0, "impact_coef": 0.1},
    "exec": {"algo": "twap", "slots": 4},
}
COSTS = CostModel(commission_bps=2.0, half_spread_bps=3.0, impact_coef=0.1)


def _run_cli(tmp_path, capsys, config, name="config.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    assert main(["run", "-c", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    return summary, Path(summary["artifacts"])


def _panel(n_bars=120, n_names=4, seed=0, vol=0.02):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, (n_bars, n_names)), axis=0))
    open_ = close * np.exp(rng.normal(0, vol / 5, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    return BarPanel.from_arrays(open_, close, volume=volume)


def _config(**execution):
    rules = ConstructionConfig(mode="long_short", top_k=1)
    plan = ExecutionConfig(**execution) if execution else None
    return SimulationConfig(capital=1e6, costs=COSTS, portfolio=rules, execution=plan)


def test_quant_run_with_exec_twap_reports_implementation_shortfall(tmp_path, capsys):
    summary, folder = _run_cli(tmp_path, capsys, CONFIG)
    metrics = summary["metrics"]
    for key in ("execution_shortfall_bps", "execution_arrival_shortfall_bps"):
        assert np.isfinite(metrics[key])
    for key in ("plain_shortfall_bps", "plain_arrival_shortfall_bps"):
        assert np.isfinite(metrics[key])
    executions = pl.read_parquet(folder / "executions.parquet")
    children = pl.read_parquet(folder / "execution_children.parquet")
    trades = pl.read_parquet(folder / "trades.parquet")
    assert metrics["execution_parents"] == executions.height > 0
    assert metrics["execution_shortfall"] == pytest.approx(executions["shortfall"].sum())
    assert metrics["plain_shortfall"] == pytest.approx(executions["plain_shortfall"].sum())
    assert metrics["execution_arrival_shortfall"] == pytest.approx(
        executions["arrival_shortfall"].sum()
    )
    assert metrics["plain_arrival_shortfall"] == pytest.approx(executions["plain_cost"].sum())
    # a parent filled whole: its shortfall is what its fills in the trade log paid above the
    # decision price plus their costs (one parent per name and decision)
    whole = executions.filter((pl.col("status") == "filled") & (pl.col("cancelled") == 0))
    paid = (
        trades.join(whole, on=["symbol", "decided_at"])
        .group_by("parent")
        .agg(
            (pl.col("notional") - pl.col("quantity") * pl.col("decision_price") + pl.col("cost"))
            .sum()
            .alias("paid"),
            pl.col("shortfall").first(),
        )
    )
    assert paid.height == whole.height > 0
    assert paid["paid"].to_list() == pytest.approx(paid["shortfall"].to_list())
    saved = json.loads((folder / "executions.json").read_text())
    assert saved["config"]["algo"] == "twap" and saved["config"]["slots"] == 4
    assert saved["execution_shortfall_bps"] == pytest.approx(metrics["execution_shortfall_bps"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"]["simulation"]["execution"]["algo"] == "twap"
    # the book holds what the children filled: fills = children, positions = their sum
    assert trades.height == int(executions["n_children"].sum()) == metrics["n_fills"]
    for (symbol,), rows in trades.group_by("symbol"):
        filled = executions.filter(pl.col("symbol") == symbol)["filled"].sum()
        assert rows["quantity"].sum() == pytest.approx(filled, abs=1e-6)
        assert rows["position"][-1] == pytest.approx(filled, abs=1e-6)
    # each fill comes 1 to 4 bars after its decision
    bars = pl.read_parquet(folder / "equity.parquet")["timestamp"].to_list()
    index = {d: k for k, d in enumerate(bars)}
    pairs = zip(trades["timestamp"], trades["decided_at"], strict=True)
    lags = [index[t] - index[d] for t, d in pairs]
    assert min(lags) == 1 and max(lags) == 4
    # TWAP: a parent worked over its 4 bars, none of it cancelled, has equal children (to a
    # unit); a later decision in the other direction takes off what it needs, newest first
    whole = executions.filter(
        (pl.col("status") == "filled") & (pl.col("n_children") == 4) & (pl.col("cancelled") == 0)
    )
    assert whole.height > 0
    sizes = children.filter(pl.col("parent").is_in(whole["parent"].implode()))
    spread = sizes.group_by("parent").agg(
        (pl.col("child_units").max() - pl.col("child_units").min()).alias("d")
    )
    assert spread["d"].max() <= 1


@pytest.mark.parametrize(
    ("short", "algo", "venue"), [("twap", "twap", "bars"), ("book", "twap", "book")]
)
def test_exec_by_name_alone_runs_with_the_defaults(tmp_path, capsys, short, algo, venue):
    summary, folder = _run_cli(tmp_path, capsys, {**CONFIG, "exec": short})
    assert np.isfinite(summary["metrics"]["execution_shortfall_bps"])
    saved = json.loads((folder / "executions.json").read_text())["config"]
    assert (saved["algo"], saved["venue"], saved["slots"]) == (algo, venue, 4)


def test_a_book_run_with_latency_reports_shortfall(tmp_path, capsys):
    book = {"algo": "twap", "slots": 2, "venue": "book", "latency_ms": 300, "jitter_ms": 50}
    summary, folder = _run_cli(tmp_path, capsys, {**CONFIG, "exec": book}, "book.yaml")
    metrics = summary["metrics"]
    assert np.isfinite(metrics["execution_shortfall_bps"])
    assert np.isfinite(metrics["plain_shortfall_bps"])
    saved = json.loads((folder / "executions.json").read_text())
    assert saved["config"]["venue"] == "book" and saved["config"]["latency_ms"] == 300
    fast = {**book, "latency_ms": 0, "jitter_ms": 0}
    other, _ = _run_cli(tmp_path, capsys, {**CONFIG, "exec": fast}, "fast.yaml")
    assert other["metrics"]["execution_shortfall"] != metrics["execution_shortfall"]


def _bar(panel, i):
    return next(s for s in panel.snapshots() if s.index == i)


def test_latency_on_the_book_lets_others_take_the_liquidity_first():
    """One buy of two levels' depth: sent without latency it arrives before everyone else and
    walks the first two ask levels; arriving after the others' flow it pays more."""
    panel = BarPanel.from_arrays(
        np.full((6, 1), 100.0), np.full((6, 1), 100.0), volume=np.full((6, 1), 1e6)
    )
    costs = CostModel(commission_bps=1.0, half_spread_bps=2.0, impact_coef=0.0)
    prices = {}
    for latency in (0, 1_000):
        config = ExecutionConfig(
            slots=1, venue="book", latency_ms=latency, level_depth=0.01, flow_orders=20
        )
        desk = ExecutionDesk(config, costs, ["A"], seed=1, volume_window=20)
        for i in range(5):
            assert desk.on_bar(_bar(panel, i), np.zeros(1)) == []
        one = np.array([1.0])
        desk.submit(
            np.array([0]), np.array([20_000.0]), one * 100, one, one, one * 100, 4, 5, np.zeros(1)
        )
        ((_, names, qty, price, cost),) = desk.on_bar(_bar(panel, 5), np.zeros(1))
        assert names.tolist() == [0] and qty.tolist() == [20_000.0]
        assert cost[0] == pytest.approx(1e-4 * 20_000 * price[0])
        prices[latency] = price[0]
    # 10,000 shares at 2 bp, 10,000 at 7 bp above the open
    assert prices[0] == pytest.approx(100 * (1 + 4.5e-4))
    assert prices[1_000] > prices[0]


def test_a_thin_book_leaves_shares_unfilled_at_an_opportunity_cost():
    """Two levels of 100 shares a side; a buy of 500 over 2 bars fills 200 a bar and ends
    incomplete: the 100 left are valued at the last slot's close."""
    n = 8
    close = np.full((n, 1), 100.0)
    close[-1] = 104.0
    panel = BarPanel.from_arrays(np.full((n, 1), 100.0), close, volume=np.full((n, 1), 1e4))
    costs = CostModel(commission_bps=0.0, half_spread_bps=1.0, impact_coef=0.0)
    config = ExecutionConfig(
        slots=2, venue="book", book_levels=2, level_bps=1.0, level_depth=0.01, flow_orders=0
    )
    desk = ExecutionDesk(config, costs, ["A"], seed=0, volume_window=20)
    for i in range(n - 2):
        desk.on_bar(_bar(panel, i), np.zeros(1))
    one = np.ones(1)
    desk.submit(np.array([0]), one * 500, one * 100, one, one, one * 100, n - 3, n - 2, np.zeros(1))
    filled = [desk.on_bar(_bar(panel, i), np.zeros(1))[0][2][0] for i in (n - 2, n - 1)]
    assert filled == pytest.approx([200.0, 200.0])
    desk.finish(n - 1, close[-1])
    row = desk.table().row(0, named=True)
    assert (row["status"], row["filled"]) == ("incomplete", pytest.approx(400.0))
    assert row["average_price"] == pytest.approx(100 * (1 + 1.5e-4))
    paid = 400 * 100 * 1.5e-4
    assert row["shortfall"] == pytest.approx(paid + 100 * 4.0)
    assert row["shortfall_bps"] == pytest.approx((paid + 400.0) / (500 * 100) * 1e4)


def test_each_child_sees_only_the_volumes_of_earlier_bars():
    panel = _panel(n_bars=12, n_names=2)
    seen = []

    @dataclass(frozen=True)
    class Spy:
        name: str = "spy"

        def child_qty(self, ctx):
            seen.append(ctx.past_volume.copy())
            return TWAP().child_qty(ctx)

    desk = ExecutionDesk(ExecutionConfig(slots=4), COSTS, panel.symbols, 0, 20)
    desk.algorithm = Spy()
    one = np.ones(1)
    for i, bar in enumerate(panel.snapshots()):
        if i == 5:
            desk.submit(
                np.array([1]), one * 1_000, bar.open[1:], one, one * 1e9, one, 4, i, np.zeros(2)
            )
        before = len(seen)
        desk.on_bar(bar, np.zeros(2))
        if 5 <= i < 9:
            assert len(seen) == before + 1
            assert seen[-1] == pytest.approx(panel.volume[:i, 1] * UNITS)
    assert len(seen) == 4


@pytest.mark.parametrize(
    "execution",
    [
        {"algo": "twap"},
        {"algo": "vwap", "vwap_lookback": 3},
        {"algo": "pov", "pov_rate": 0.001},
        {"algo": "is", "urgency": 2.0},
        {"algo": "twap", "venue": "book", "latency_ms": 200, "jitter_ms": 100},
    ],
)
def test_schedules_never_read_a_future_bar(execution):
    """Change every bar from ``cut`` on (its close, range and volume; later opens too): the
    fills up to ``cut`` and the children sized there are unchanged, later ones differ."""
    panel = _panel()
    cut = 60
    future = {k: getattr(panel, k).copy() for k in ("open", "high", "low", "close", "volume")}
    for k in ("high", "low", "close"):
        future[k][cut:] *= 1.3
    future["open"][cut + 1 :] *= 1.3
    future["volume"][cut:] *= 0.2
    altered = replace(panel, **future)
    config = _config(slots=4, **execution)
    runs = [Simulator(config, Momentum(5)).run(p) for p in (panel, altered)]
    stamp = panel.timestamps[cut]
    early = [r.trades.filter(pl.col("timestamp") <= stamp) for r in runs]
    assert early[0].height > 0 and early[0].equals(early[1])
    late = [r.trades.filter(pl.col("timestamp") > stamp) for r in runs]
    assert not late[0].equals(late[1])
    started = [r.executions.filter(pl.col("started_at") <= stamp) for r in runs]
    assert started[0]["quantity"].equals(started[1]["quantity"])


def test_a_book_run_is_reproducible():
    panel = _panel(n_bars=60)
    config = _config(slots=3, venue="book", latency_ms=100, jitter_ms=200)
    runs = [Simulator(config, Momentum(5)).run(panel) for _ in range(2)]
    assert runs[0].trades.height > 0 and runs[0].trades.equals(runs[1].trades)
    assert runs[0].executions.equals(runs[1].executions)
    other = Simulator(replace(config, seed=1), Momentum(5)).run(panel)
    assert not other.trades.equals(runs[0].trades)  # the others' flow and the jitter are seeded


def test_one_slot_fills_exactly_like_the_plain_simulator():
    panel = _panel()
    plain = Simulator(_config(), Momentum(5)).run(panel)
    worked = Simulator(_config(slots=1), Momentum(5)).run(panel)
    assert plain.executions is None and "execution_shortfall" not in plain.metrics
    assert worked.bars.equals(plain.bars) and worked.trades.equals(plain.trades)
    # filled whole at the open, its shortfall is the plain fill's
    assert worked.metrics["execution_shortfall"] == pytest.approx(
        worked.metrics["plain_shortfall"], rel=1e-9
    )


@dataclass
class Switch:
    """Long A until bar ``at``, long B from then on."""

    at: int

    def start(self, symbols):
        pass

    def on_bar(self, bar):
        scores = np.array([1.0, 0.0]) if bar.index < self.at else np.array([0.0, 1.0])
        return Signal(scores, np.ones(2, dtype=bool))


def test_a_reversal_cancels_the_working_parent_and_trades_from_the_shares_held():
    panel = _panel(n_bars=20, n_names=2)
    rules = ConstructionConfig(mode="long_only", top_k=1, min_trade_value=50_000.0)
    costs = CostModel(commission_bps=2.0, half_spread_bps=3.0, impact_coef=0.0)
    config = SimulationConfig(
        capital=1e6, costs=costs, portfolio=rules, execution=ExecutionConfig(slots=4)
    )
    result = Simulator(config, Switch(at=2)).run(panel)
    parents = result.executions.sort("parent")
    # decided at bar 0: buy A over bars 1-4; at bar 2 the target is B: the buy of A, two
    # children done, is cancelled; A's shares held are sold, B bought, each over 4 bars
    first = parents.row(0, named=True)
    assert (first["symbol"], first["side"], first["status"]) == ("S000", "buy", "cancelled")
    assert first["n_children"] == 2
    assert first["filled"] == pytest.approx(first["quantity"] / 2, rel=1e-6)
    sell = parents.filter((pl.col("symbol") == "S000") & (pl.col("side") == "sell")).row(
        0, named=True
    )
    assert sell["quantity"] == pytest.approx(-first["filled"])
    assert sell["status"] == "filled" and sell["n_children"] == 4
    assert parents.filter(pl.col("symbol") == "S001")["status"].to_list()[0] == "filled"
    # the last child of the sale sells exactly what is held: the book is flat, not 1e-13 long
    assert result.trades.filter(pl.col("symbol") == "S000")["position"][-1] == 0.0
    # opportunity cost: the cancelled half is valued at the open where it was cancelled
    assert np.isfinite(first["shortfall_bps"]) and first["final_price"] == pytest.approx(
        panel.open[3, 0]
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exec": {"algo": "vwapp"}}, "exec.algo: unknown algo 'vwapp'"),
        ({"exec": "fast"}, "exec: expected a mapping or one of ['book', 'is', 'pov', 'twap'"),
        ({"exec": {"slot": 4}}, "exec: unknown key(s) ['slot']"),
        ({"exec": {"slots": 0}}, "exec: slots must be at least 1"),
        ({"exec": {"latency_ms": 1.5}}, "exec.latency_ms: expected an integer"),
        ({"run": {"simulator": "vectorized"}}, "exec: orders are worked by simulator"),
        ({"simulation": {"fill_at": "same_close"}}, "exec works orders from the next open"),
    ],
)
def test_a_bad_exec_section_is_one_clear_error(tmp_path, capsys, change, message):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **change}))
    assert main(["run", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "config.yaml" in err and len(err.strip().splitlines()) == 1


@dataclass
class InOutIn:
    """One name: in, out from bar ``out``, in again from bar ``back``."""

    out: int
    back: int

    def start(self, symbols):
        pass

    def on_bar(self, bar):
        held = bar.index < self.out or bar.index >= self.back
        return Signal(np.array([1.0 if held else 0.0]), np.ones(1, dtype=bool))


def test_a_per_symbol_sleeve_closed_by_children_is_flat_and_enters_again():
    panel = _panel(n_bars=24, n_names=1)
    rules = ConstructionConfig(mode="long_only", allocation="per_symbol")
    costs = CostModel(commission_bps=2.0, half_spread_bps=3.0, impact_coef=0.0)
    config = SimulationConfig(
        capital=1e6, costs=costs, portfolio=rules, execution=ExecutionConfig(slots=3)
    )
    result = Simulator(config, InOutIn(out=6, back=12)).run(panel)
    parents = result.executions.sort("parent")
    assert parents["side"].to_list() == ["buy", "sell", "buy"]
    assert parents["status"].to_list() == ["filled"] * 3
    positions = result.trades["position"].to_list()
    assert positions[5] == 0.0 and positions[-1] > 0  # flat after the sale, then in again
