"""The event-driven simulator: time order, no lookahead, artifacts, limits, control."""

import json
import threading

import numpy as np
import polars as pl
import pytest

from quant_engine.backtest import CostModel
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation import (
    BarPanel,
    BarSnapshot,
    Book,
    LookaheadError,
    Momentum,
    RiskLimits,
    Signal,
    SimulationConfig,
    Simulator,
    SmaCrossover,
    VolatilityScaled,
)

FREE = CostModel(0.0, 0.0, 0.0)
LINEAR = CostModel(commission_bps=10.0, half_spread_bps=0.0, impact_coef=0.0)


def _panel(n_bars=300, n_names=8, seed=0, vol=0.02):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, vol, (n_bars, n_names)), axis=0))
    open_ = close * np.exp(rng.normal(0, vol / 5, close.shape))
    volume = rng.uniform(1e5, 1e6, close.shape)
    return BarPanel.from_arrays(open_, close, volume=volume)


def _momentum_config(**kw):
    rules = ConstructionConfig(mode="long_short", top_k=2)
    return SimulationConfig(capital=1e6, costs=LINEAR, portfolio=rules, **kw)


def test_an_out_of_order_or_repeated_event_raises_lookahead_error():
    panel = _panel(20, 3)
    events = list(panel.snapshots())
    stale = [*events[:10], events[5], *events[10:]]
    with pytest.raises(LookaheadError, match="strictly increasing"):
        Simulator(_momentum_config(), Momentum(3)).run(stale, panel.symbols)
    repeated = [*events[:10], events[9], *events[10:]]
    with pytest.raises(LookaheadError):
        Simulator(_momentum_config(), Momentum(3)).run(repeated, panel.symbols)


def test_fills_never_use_data_after_the_decision():
    panel = _panel()
    cutoff = 200
    future = {k: getattr(panel, k).copy() for k in ("open", "high", "low", "close", "volume")}
    for k in ("open", "high", "low", "close"):
        future[k][cutoff:] *= 1.7
    future["volume"][cutoff:] *= 0.1
    rewritten = BarPanel(panel.timestamps, panel.symbols, **future)
    rules = SimulationConfig(
        capital=1e6, costs=CostModel(5.0, 5.0, 0.2), portfolio=ConstructionConfig(top_k=2)
    )
    base = Simulator(rules, Momentum(10)).run(panel)
    changed = Simulator(rules, Momentum(10)).run(rewritten)
    # Bars before the cutoff (fills at their open were decided before it) are identical.
    before = pl.col("timestamp") < cutoff
    assert base.trades.filter(before).equals(changed.trades.filter(before))
    assert base.bars.filter(before).equals(changed.bars.filter(before))
    assert not base.trades.equals(changed.trades)


def test_fills_happen_at_the_next_open_or_the_same_close():
    panel = _panel(80, 4)
    for fill_at, prices in (("next_open", panel.open), ("same_close", panel.close)):
        result = Simulator(_momentum_config(fill_at=fill_at), Momentum(5)).run(panel)
        first = result.trades.row(0, named=True)
        column = panel.symbols.index(first["symbol"])
        assert first["price"] == prices[first["timestamp"], column]
        # Momentum(5) first decides at bar 5: at that close, or the next bar's open.
        assert first["timestamp"] == (6 if fill_at == "next_open" else 5)


def test_artifact_folder_holds_manifest_metrics_equity_and_a_trade_log(tmp_path):
    panel = _panel(120, 5)
    result = Simulator(
        _momentum_config(seed=42, record_cycles=True),
        Momentum(5),
        artifacts_root=tmp_path,
        name="mom",
    ).run(panel)
    folder = result.artifacts
    assert folder.parent == tmp_path and folder.name.startswith("mom-")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["seed"] == 42
    assert len(manifest["config_hash"]) == 64 and manifest["run_id"] == folder.name
    assert {"numpy", "polars", "quant-platform"} <= set(manifest["packages"])
    assert manifest["git_sha"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["sharpe"] == pytest.approx(result.metrics["sharpe"])
    equity = pl.read_parquet(folder / "equity.parquet")
    assert equity["equity_close"].to_list() == result.bars["equity_close"].to_list()
    lines = [json.loads(x) for x in (folder / "trades.jsonl").read_text().splitlines()]
    assert len(lines) == result.trades.height > 0
    assert lines[-1]["cum_realized_pnl"] == pytest.approx(result.trades["cum_realized_pnl"][-1])
    cycles = (folder / "cycles.jsonl").read_text().splitlines()
    assert len(cycles) == len(result.cycles) > 0
    paths = result.export_parquet(tmp_path / "export")
    assert sorted(paths) == ["bars", "fills", "round_trips", "signals"]
    assert pl.read_parquet(paths["fills"]).equals(result.trades)
    assert pl.read_parquet(paths["bars"]).height == len(panel)


def test_same_config_and_data_give_the_same_numbers(tmp_path):
    panel = _panel(100, 5)
    a = Simulator(_momentum_config(), Momentum(5), artifacts_root=tmp_path).run(panel)
    b = Simulator(_momentum_config(), Momentum(5), artifacts_root=tmp_path).run(panel)
    assert a.bars.equals(b.bars) and a.trades.equals(b.trades)
    assert a.artifacts != b.artifacts  # each run its own folder


def test_progress_callback_and_cooperative_cancellation(tmp_path):
    panel = _panel(400, 4)
    cancel = threading.Event()
    seen = []

    def progress(done, total, info):
        seen.append((done, total))
        if done >= 200:
            cancel.set()

    config = _momentum_config(progress_interval=50)
    result = Simulator(
        config, Momentum(5), artifacts_root=tmp_path, progress=progress, cancel=cancel
    ).run(panel)
    assert result.status == "cancelled"
    assert result.bars.height == 200  # stopped at the first bar after the request
    assert seen[:4] == [(50, 400), (100, 400), (150, 400), (200, 400)]
    manifest = json.loads((result.artifacts / "manifest.json").read_text())
    assert manifest["status"] == "cancelled"


def test_the_last_progress_call_fires_once_with_the_runs_drawdown():
    panel = _panel(400, 4)
    seen = []
    config = _momentum_config(progress_interval=100)
    result = Simulator(config, Momentum(5), progress=lambda *a: seen.append(a)).run(panel)
    assert [done for done, _, _ in seen] == [100, 200, 300, 400]  # 400 is a multiple: once
    close = result.bars["equity_close"].to_numpy()
    expected = close[-1] / max(config.capital, close.max()) - 1
    assert expected < 0 and seen[-1][2]["drawdown"] == pytest.approx(expected)
    odd = []
    Simulator(config, Momentum(5), progress=lambda *a: odd.append(a)).run(panel.window(0, 250))
    assert [done for done, _, _ in odd] == [100, 200, 250]


class _AllIn:
    """Puts everything in the first name, every bar."""

    def start(self, symbols):
        self.n = len(symbols)

    def on_bar(self, bar):
        scores = np.zeros(self.n)
        scores[0] = 1.0
        return Signal(scores, np.ones(self.n, bool))


def test_drawdown_stop_liquidates_and_stops_deciding():
    n = 60
    close = np.column_stack([np.linspace(100, 40, n), np.full(n, 50.0)])
    panel = BarPanel.from_arrays(close, close)
    config = SimulationConfig(
        capital=1e5,
        costs=FREE,
        portfolio=ConstructionConfig(mode="long_only", top_k=1),
        limits=RiskLimits(drawdown_stop=0.1),
    )
    result = Simulator(config, _AllIn()).run(panel)
    assert result.status == "halted"
    equity = result.bars["equity_close"].to_numpy()
    breach = int(np.argmax(equity / np.maximum.accumulate(equity) - 1 <= -0.1))
    assert result.bars["n_positions"][breach + 1 :].max() == 0  # flat after the stop
    assert result.trades["timestamp"].max() == breach + 1  # the liquidation, then nothing


def test_gross_exposure_cap_and_kelly_fraction_scale_the_book():
    panel = _panel(100, 6)
    limits = RiskLimits(max_gross_exposure=0.5, kelly_fraction=0.8)
    config = _momentum_config(limits=limits)
    result = Simulator(config, Momentum(5)).run(panel)
    traded = result.bars.filter(pl.col("turnover") > 0)
    ratio = traded["gross_exposure"] / traded["equity_close"]
    assert ratio.max() < 0.5 * 1.1  # drift within the day only
    assert ratio.max() > 0.3
    unlimited = Simulator(_momentum_config(), Momentum(5)).run(panel)
    full = unlimited.bars.filter(pl.col("turnover") > 0)
    assert (full["gross_exposure"] / full["equity_close"]).min() > 0.9


def test_turnover_cap_limits_each_rebalance():
    panel = _panel(100, 6)
    result = Simulator(_momentum_config(limits=RiskLimits(turnover_cap=0.2)), Momentum(5)).run(
        panel
    )
    assert result.bars["turnover"].max() <= 0.2 + 1e-12
    assert result.bars["turnover"].max() == pytest.approx(0.2)


def test_volatility_scaled_capital_gives_quiet_names_more():
    rng = np.random.default_rng(4)
    vols = np.array([0.005, 0.04])
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1, (80, 2)) * vols, axis=0))
    panel = BarPanel.from_arrays(close, close)
    config = SimulationConfig(
        capital=1e6,
        costs=FREE,
        portfolio=ConstructionConfig(mode="long_only", allocation="per_symbol"),
        capital_policy=VolatilityScaled(target_vol=0.01, max_scale=1.0),
    )

    class Both:
        def start(self, symbols):
            pass

        def on_bar(self, bar):
            return Signal(np.ones(2), np.ones(2, bool))

    result = Simulator(config, Both()).run(panel)
    first = result.trades.filter(pl.col("timestamp") == result.trades["timestamp"].min())
    notional = dict(zip(first["symbol"], first["notional"], strict=True))
    assert notional["S000"] > 3 * notional["S001"] > 0


def test_average_cost_realized_pnl():
    book = Book(1, 10_000.0)
    names = np.array([0])

    def fill(q, p):
        return book.apply(names, np.array([q]), np.array([p]), np.array([0.0]))

    fill(10, 100.0)
    fill(10, 110.0)
    assert book.avg_cost[0] == pytest.approx(105.0)
    assert fill(-5, 120.0).realized_pnl[0] == pytest.approx(75.0)  # 5 x (120 - 105)
    flip = fill(-25, 90.0)  # close 15 at 90 (PnL -225), open 10 short at 90
    assert flip.realized_pnl[0] == pytest.approx(-225.0)
    assert book.shares[0] == -10 and book.avg_cost[0] == 90.0
    assert fill(10, 80.0).realized_pnl[0] == pytest.approx(100.0)
    assert book.shares[0] == 0 and book.avg_cost[0] == 0.0
    assert book.cash == pytest.approx(10_000.0 + book.realized[0])


def test_sma_crossover_callbacks_match_its_vectorized_twin():
    panel = _panel(300, 5)
    strategy = SmaCrossover(5, 20)
    matrix = strategy.scores(panel)
    strategy.start(panel.symbols)
    rows = []
    for bar in panel.snapshots():
        signal = strategy.on_bar(bar)
        rows.append(signal.scores if signal is not None else np.full(5, np.nan))
    np.testing.assert_array_equal(np.array(rows), matrix)
    assert np.nansum(np.abs(np.diff(matrix, axis=0))) > 10  # it crosses


def test_a_bar_snapshot_is_one_timestamp_for_all_symbols():
    panel = _panel(3, 4)
    snap = next(panel.snapshots())
    assert isinstance(snap, BarSnapshot) and snap.close.shape == (4,)
