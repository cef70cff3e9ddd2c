"""Backtests of the signals (vectorized or event-driven): long-only top-k and long/short."""

import base64
from typing import Literal

import dagster as dg
import polars as pl

from quant_assets.metadata import column_schema, display_metrics, frame_summary, mlflow_run_link
from quant_assets.resources import MlflowResource, PortfolioResource
from quant_engine.backtest import (
    CostModel,
    MarketPanel,
    plot_equity_and_drawdown,
    run_panel_backtest,
)
from quant_engine.io import write_json
from quant_engine.paths import QuantHome

MODES = ("long_short", "long_only")


_COSTS = CostModel()  # the engine's one cost model and its defaults


class BacktestAssetConfig(dg.Config):
    capital: float = 10_000_000.0
    commission_bps: float = _COSTS.commission_bps
    half_spread_bps: float = _COSTS.half_spread_bps
    impact_coef: float = _COSTS.impact_coef
    impact_model: Literal["square_root", "linear"] = _COSTS.impact_model
    simulator: Literal["vectorized", "event_driven"] = "vectorized"


@dg.asset(group_name="backtest", kinds={"polars", "mlflow"})
def backtest(
    context: dg.AssetExecutionContext,
    config: BacktestAssetConfig,
    signals: pl.DataFrame,
    raw_bars: pl.DataFrame,
    mlflow: MlflowResource,
    portfolio: PortfolioResource,
) -> dg.Output[pl.DataFrame]:
    """Daily equity of each strategy; metrics go to MLflow (the model's run) and metadata.

    Portfolio rules come from the ``portfolio`` resource, the one ``target_portfolio`` trades.
    """
    from quant_engine.simulation import SimulationConfig, simulate_signals  # numba kernels
    from quant_engine.simulation.records import strict

    costs = CostModel(
        config.commission_bps, config.half_spread_bps, config.impact_coef, config.impact_model
    )
    reports = QuantHome.resolve().reports
    results: dict[str, tuple[pl.DataFrame, dict[str, float]]] = {}
    last_weights: dict[str, dict] = {}  # mode -> the last rebalance's target weights
    panel = scores = None  # the vectorized backtest's market and scores, shared by the modes
    for mode in MODES:
        # one config for either simulator: the vectorized one reads its shared part
        rules = SimulationConfig(
            capital=config.capital, costs=costs, portfolio=portfolio.construction(mode)
        )
        if config.simulator == "event_driven":
            run = simulate_signals(signals, raw_bars, rules, reports / "simulations", mode)
            context.log.info(f"{mode} simulation artifacts in {run.artifacts}")
            results[mode] = (run.daily(), run.metrics)
        else:
            if panel is None:
                panel = MarketPanel.from_bars(raw_bars, rules.risk_window)
                scores = panel.align_scores(signals)
            result = run_panel_backtest(panel, scores, rules)
            results[mode] = (result.daily, result.metrics)
            weights = zip(panel.symbols, result.weights[-1], strict=True)
            last_weights[mode] = {
                "traded_at": str(result.daily["timestamp"][-1]),
                "weights": {s: float(w) for s, w in weights if w},
            }
    chart = plot_equity_and_drawdown(
        {mode: daily for mode, (daily, _) in results.items()}, reports / "backtest_equity.png"
    )
    metrics = strict(  # strict JSON: a metric that is not a number (a flat run's Sharpe) is None
        {f"{mode}.{k}": v for mode, (_, m) in results.items() for k, v in m.items()}
    )
    write_json(reports / "backtest_metrics.json", metrics)

    model_uri = signals.sort("timestamp")["model_version"][-1]
    run_id = mlflow.model_run_id(model_uri)
    client = mlflow.client()
    for name, value in metrics.items():
        if value is not None:
            client.log_metric(run_id, f"backtest.{name}", float(value))
    client.log_artifact(run_id, str(chart))
    context.log.info(f"backtest metrics logged to MLflow run {run_id}")

    image = base64.b64encode(chart.read_bytes()).decode()
    daily = pl.concat(
        [d.with_columns(pl.lit(mode).alias("strategy")) for mode, (d, _) in results.items()]
    )
    return dg.Output(
        daily,
        metadata={
            **display_metrics(metrics),
            "model_version": model_uri,
            **frame_summary(daily),
            **column_schema(daily, {"strategy": "long_short or long_only"}),
            **mlflow_run_link(mlflow.experiment_id(), run_id),
            "simulator": config.simulator,
            **{f"{m}.last_weights": dg.MetadataValue.json(w) for m, w in last_weights.items()},
            "impact_model": config.impact_model,
            "mlflow_run_id": run_id,
            "chart": dg.MetadataValue.path(str(chart)),
            "equity_and_drawdown": dg.MetadataValue.md(f"![equity](data:image/png;base64,{image})"),
        },
    )
