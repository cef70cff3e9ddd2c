"""Runs from a YAML config: ``quant run -c config.yaml`` and ``quant wfv -c config.yaml``.

A config names its data (the synthetic market or a directory of CSV/Parquet bar files), its
strategy and parameters, the portfolio rules, costs, limits, capital policy and simulator
(``event_driven`` or ``vectorized``). Every run writes ``<artifacts_dir>/<run_id>/``.
Walk-forward (``wfv``) picks the parameters with the best Sharpe on each training fold and
applies them to the following test fold; the test folds, stitched, are the out-of-sample result.
"""

from __future__ import annotations

import cProfile
import itertools
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from quant_engine.backtest import BacktestConfig, CostModel, MarketPanel, run_panel_backtest
from quant_engine.data import SyntheticMarketConfig, generate_market, load_bar_directory
from quant_engine.evaluation.performance import drawdown, performance_metrics
from quant_engine.io import write_json
from quant_engine.portfolio import ConstructionConfig
from quant_engine.simulation.artifacts import RunArtifacts
from quant_engine.simulation.capital import capital_policy
from quant_engine.simulation.engine import SimulationConfig, SimulationResult, Simulator
from quant_engine.simulation.events import BarPanel
from quant_engine.simulation.limits import RiskLimits
from quant_engine.simulation.strategies import Momentum, SmaCrossover

STRATEGIES = {"sma_crossover": SmaCrossover, "momentum": Momentum}
SIMULATORS = ("event_driven", "vectorized")


class ConfigError(ValueError):
    """A run config that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class WalkForwardConfig:
    train_bars: int = 250
    test_bars: int = 125
    grid: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    name: str
    simulator: str
    data: dict[str, Any]
    strategy: str
    params: dict[str, Any]
    simulation: SimulationConfig
    artifacts_dir: Path
    walk_forward: WalkForwardConfig


def _build(cls: type, raw: Any, where: str) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {raw!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    try:
        return cls(**raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_run_config(path: str | Path) -> RunConfig:
    """Parse and validate a YAML run config (relative paths are relative to the file)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    top = {"run", "data", "strategy", "portfolio", "costs", "limits", "capital_policy"}
    top |= {"simulation", "walk_forward"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; known: {sorted(top)}")
    run = dict(raw.get("run") or {})
    simulator = run.pop("simulator", "event_driven")
    if simulator not in SIMULATORS:
        raise ConfigError(f"{path}: run.simulator {simulator!r} is not one of {SIMULATORS}")
    strategy = dict(raw.get("strategy") or {})
    name = strategy.pop("name", None)
    if name not in STRATEGIES:
        raise ConfigError(f"{path}: strategy.name {name!r} is not one of {sorted(STRATEGIES)}")
    params = strategy.pop("params", {}) or {}
    if strategy:
        raise ConfigError(f"{path}: strategy: unknown key(s) {sorted(strategy)}")
    _build(STRATEGIES[name], params, f"{path}: strategy.params")
    policy = dict(raw.get("capital_policy") or {"name": "full"})
    try:
        policy_obj = capital_policy(policy.pop("name", "full"), **policy)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: capital_policy: {exc}") from exc
    sim_raw = dict(raw.get("simulation") or {})
    sim_raw.update(
        costs=_build(CostModel, raw.get("costs"), f"{path}: costs"),
        portfolio=_build(ConstructionConfig, raw.get("portfolio"), f"{path}: portfolio"),
        limits=_build(RiskLimits, raw.get("limits"), f"{path}: limits"),
        capital_policy=policy_obj,
        seed=run.pop("seed", 0),
    )
    simulation = _build(SimulationConfig, sim_raw, f"{path}: simulation")
    if simulator == "vectorized" and (
        simulation.limits != RiskLimits() or simulation.capital_policy.needs_risk
    ):
        raise ConfigError(
            f"{path}: limits and capital_policy are enforced by simulator: event_driven only"
        )
    artifacts = Path(run.pop("artifacts_dir", "artifacts"))
    run_name = str(run.pop("name", path.stem))
    if run:
        raise ConfigError(f"{path}: run: unknown key(s) {sorted(run)}")
    data = dict(raw.get("data") or {"source": "synthetic"})
    if data.get("source") == "csv":
        if "directory" not in data:
            raise ConfigError(f"{path}: data.directory is required for source: csv")
        data["directory"] = str((path.parent / data["directory"]).resolve())
    elif data.get("source", "synthetic") != "synthetic":
        raise ConfigError(f"{path}: data.source {data.get('source')!r} is not synthetic or csv")
    return RunConfig(
        name=run_name,
        simulator=simulator,
        data=data,
        strategy=name,
        params=params,
        simulation=simulation,
        artifacts_dir=artifacts if artifacts.is_absolute() else path.parent / artifacts,
        walk_forward=_build(WalkForwardConfig, raw.get("walk_forward"), f"{path}: walk_forward"),
    )


def load_bars(data: dict[str, Any]) -> pl.DataFrame:
    """The bars a config names."""
    options = {k: v for k, v in data.items() if k != "source"}
    if data.get("source") == "csv":
        return load_bar_directory(options["directory"])
    return generate_market(_build(SyntheticMarketConfig, options, "data")).bars


def _split(params: dict[str, Any], strategy: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grid keys for the strategy and for the portfolio rules."""
    strategy_keys = {f.name for f in fields(STRATEGIES[strategy]) if f.init}
    portfolio_keys = {f.name for f in fields(ConstructionConfig)}
    unknown = sorted(set(params) - strategy_keys - portfolio_keys)
    if unknown:
        raise ConfigError(f"walk_forward.grid: unknown parameter(s) {unknown}")
    return (
        {k: v for k, v in params.items() if k in strategy_keys},
        {k: v for k, v in params.items() if k in portfolio_keys},
    )


def simulate(
    cfg: RunConfig,
    bars: BarPanel,
    market: MarketPanel,
    params: dict[str, Any],
    artifacts_root: Path | None,
    progress: Any = None,
    cancel: Any = None,
) -> tuple[np.ndarray, SimulationResult | None, Path | None]:
    """Run the configured simulator; returns (equity marks at fills, result, artifacts)."""
    strategy_params, portfolio_params = _split({**cfg.params, **params}, cfg.strategy)
    sim = replace(cfg.simulation, portfolio=replace(cfg.simulation.portfolio, **portfolio_params))
    strategy = STRATEGIES[cfg.strategy](**strategy_params)
    if cfg.simulator == "event_driven":
        result = Simulator(
            sim,
            strategy,
            artifacts_root=artifacts_root,
            name=cfg.name,
            progress=progress,
            cancel=cancel,
        ).run(bars)
        return result.bars["equity_open"].to_numpy(), result, result.artifacts
    backtest = run_panel_backtest(
        market,
        strategy.scores(bars),
        BacktestConfig(
            mode=sim.portfolio.mode,
            top_k=sim.portfolio.top_k,
            capital=sim.capital,
            costs=sim.costs,
            risk_window=sim.risk_window,
            construction=sim.portfolio,
        ),
    )
    pad = len(bars) - backtest.daily.height
    equity = np.concatenate([np.full(pad, sim.capital), backtest.daily["equity"].to_numpy()])
    path = None
    if artifacts_root is not None:
        run = RunArtifacts(artifacts_root, sim, sim.seed, cfg.name)
        rows, cols = np.nonzero(backtest.trades)
        stamps = backtest.daily["timestamp"].to_list()
        trades = pl.DataFrame(
            {
                "timestamp": [stamps[r] for r in rows],
                "symbol": [bars.symbols[c] for c in cols],
                "notional": backtest.trades[rows, cols],
            }
        )
        run.log_trades([json.dumps(row, default=str) for row in trades.iter_rows(named=True)])
        path = run.finish("completed", backtest.metrics, backtest.daily, trades)
    return equity, None, path


def _prepare(path: str | Path, out: str | Path | None) -> tuple[RunConfig, BarPanel, MarketPanel]:
    cfg = load_run_config(path)
    if out is not None:
        cfg = replace(cfg, artifacts_dir=Path(out))
    frame = load_bars(cfg.data)
    return cfg, BarPanel.from_bars(frame), MarketPanel.from_bars(frame, cfg.simulation.risk_window)


def _profiled(profile: bool, work: Any) -> tuple[Any, cProfile.Profile | None]:
    if not profile:
        return work(), None
    profiler = cProfile.Profile()
    result = profiler.runcall(work)
    return result, profiler


def run_from_config(
    path: str | Path, out: str | Path | None = None, profile: bool = False
) -> dict[str, Any]:
    """One run of a config; returns its summary (run folder, metrics)."""
    cfg, bars, market = _prepare(path, out)
    (_, result, folder), profiler = _profiled(
        profile, lambda: simulate(cfg, bars, market, {}, cfg.artifacts_dir)
    )
    if profiler is not None:
        profiler.dump_stats(folder / "profile.pstats")
    metrics = json.loads((folder / "metrics.json").read_text())
    return {
        "artifacts": str(folder),
        "simulator": cfg.simulator,
        "status": result.status if result is not None else "completed",
        "metrics": metrics,
    }


def walk_forward(
    path: str | Path, out: str | Path | None = None, profile: bool = False
) -> dict[str, Any]:
    """Walk-forward validation with per-fold parameter selection by training Sharpe."""
    cfg, bars, market = _prepare(path, out)
    wf = cfg.walk_forward
    if not wf.grid:
        raise ConfigError("walk_forward.grid is empty: name at least one parameter to choose")
    _split(wf.grid, cfg.strategy)
    keys = sorted(wf.grid)
    candidates = [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(wf.grid[k] for k in keys))
    ]
    if len(bars) < wf.train_bars + wf.test_bars:
        raise ConfigError(
            f"walk_forward needs {wf.train_bars + wf.test_bars} bars, the data has {len(bars)}"
        )

    def score(equity: np.ndarray) -> float:
        returns = equity[1:] / equity[:-1] - 1.0
        returns = returns[np.flatnonzero(returns)[0] :] if returns.any() else returns
        sharpe = performance_metrics(returns)["sharpe"] if returns.size > 1 else float("nan")
        return sharpe if np.isfinite(sharpe) else -np.inf

    def work() -> tuple[list[dict[str, Any]], np.ndarray, list, list[pl.DataFrame]]:
        folds, oos_returns, oos_stamps, oos_trades = [], [], [], []
        start = 0
        while start + wf.train_bars + wf.test_bars <= len(bars):
            train_end = start + wf.train_bars
            test_end = train_end + wf.test_bars
            train_bars = bars.window(start, train_end)
            train_market = _market_window(market, start, train_end)
            sharpes = []
            for params in candidates:
                equity, _, _ = simulate(cfg, train_bars, train_market, params, None)
                sharpes.append(score(equity))
            best = candidates[int(np.argmax(sharpes))]
            equity, result, _ = simulate(
                cfg,
                bars.window(start, test_end),
                _market_window(market, start, test_end),
                best,
                None,
            )
            if result is not None:  # the event-driven fills of the test fold
                fold_trades = result.trades.filter(
                    pl.col("timestamp") >= bars.timestamps[train_end]
                )
                oos_trades.append(fold_trades.with_columns(pl.lit(len(folds)).alias("fold")))
            test = equity[wf.train_bars - 1 :]
            returns = test[1:] / test[:-1] - 1.0
            oos_returns.append(returns)
            oos_stamps.extend(bars.timestamps[train_end:test_end])
            folds.append(
                {
                    "train": [str(bars.timestamps[start]), str(bars.timestamps[train_end - 1])],
                    "test": [str(bars.timestamps[train_end]), str(bars.timestamps[test_end - 1])],
                    "params": best,
                    "train_sharpe": float(max(sharpes)),
                    "test_metrics": performance_metrics(returns),
                }
            )
            start += wf.test_bars
        return folds, np.concatenate(oos_returns), oos_stamps, oos_trades

    (folds, returns, stamps, trades), profiler = _profiled(profile, work)
    artifacts = RunArtifacts(cfg.artifacts_dir, cfg, cfg.simulation.seed, f"{cfg.name}-wfv")
    equity = cfg.simulation.capital * np.cumprod(1.0 + returns)
    curve = pl.DataFrame(
        {
            "timestamp": stamps,
            "net_return": returns,
            "equity": equity,
            "drawdown": drawdown(np.concatenate([[cfg.simulation.capital], equity]))[1:],
        }
    )
    metrics = performance_metrics(returns)
    write_json(artifacts.path / "folds.json", folds)
    table = pl.concat(trades) if trades else pl.DataFrame({"timestamp": stamps[:0]})
    artifacts.log_trades([json.dumps(row, default=str) for row in table.iter_rows(named=True)])
    folder = artifacts.finish("completed", metrics, curve, table)
    if profiler is not None:
        profiler.dump_stats(folder / "profile.pstats")
    return {"artifacts": str(folder), "folds": folds, "metrics": metrics}


def _market_window(market: MarketPanel, start: int, stop: int) -> MarketPanel:
    rows = slice(start, stop)
    return MarketPanel(
        market.dates[rows], market.symbols, market.open[rows], market.sigma[rows], market.adv[rows]
    )
