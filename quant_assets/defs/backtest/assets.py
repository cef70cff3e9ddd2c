"""Backtests of the signals (vectorized or event-driven): long-only top-k and long/short.

The vectorized backtest is extended day by day: a run reads the signals and bars after its
stored end state (one file per strategy in ``assets/backtest_state/``, with what it was built
from) and appends the new trade dates to the stored daily frame, which gives the numbers a run
over the whole history gives. It runs over the whole history when ``full_rebuild`` is set, when
nothing (or another format) is stored, when the model version, the backtest config or the
corporate actions differ from those the state was built with, when stored bars were rewritten
since, or when the stored daily frame does not end where the state does.
"""

import base64
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import dagster as dg
import polars as pl

from quant_assets.metadata import column_schema, display_metrics, frame_summary, mlflow_run_link
from quant_assets.resources import MlflowResource, PortfolioResource, StoredBars
from quant_engine.backtest import CostModel, MarketPanel, plot_equity_and_drawdown
from quant_engine.backtest.resume import (
    HISTORY_COLUMNS,
    BacktestState,
    DailyRun,
    NotExtendable,
    run_extended,
    run_whole,
)
from quant_engine.io import write_json
from quant_engine.paths import QuantHome

MODES = ("long_short", "long_only")
STATE_FOLDER = "backtest_state"  # under QUANT_HOME/assets, beside the asset's own file


_COSTS = CostModel()  # the engine's one cost model and its defaults


class BacktestAssetConfig(dg.Config):
    capital: float = 10_000_000.0
    commission_bps: float = _COSTS.commission_bps
    half_spread_bps: float = _COSTS.half_spread_bps
    impact_coef: float = _COSTS.impact_coef
    impact_model: Literal["square_root", "linear"] = _COSTS.impact_model
    simulator: Literal["vectorized", "event_driven"] = "vectorized"
    full_rebuild: bool = False  # the vectorized run over the whole history, not extended


def _state_path(mode: str) -> Path:
    return QuantHome.resolve().assets / STATE_FOLDER / f"{mode}.npz"


def _day(moment: datetime) -> date:
    """The bar day (UTC date) of a stored timestamp."""
    return moment.astimezone(UTC).date()


def _stored_states(
    built_from: dict, bars: StoredBars
) -> tuple[dict[str, BacktestState] | None, str]:
    """Each strategy's stored state when one run stored them all from ``built_from``, with the
    signals through its last bar day, and the bars they read are still the stored ones; else
    None, and why."""
    loaded = {mode: BacktestState.load(_state_path(mode)) for mode in MODES}
    if any(found is None for found in loaded.values()):
        return None, "no backtest state stored in this format yet"
    states = {mode: state for mode, (state, _) in loaded.items()}
    distinct = {json.dumps(found, sort_keys=True) for _, found in loaded.values()}
    if len(distinct) > 1 or len({state.last_date for state in states.values()}) > 1:
        return None, "the stored states were not stored by one run"
    stored = loaded[MODES[0]][1]
    if stored["built_from"] != built_from:
        return None, "the model version or corporate actions changed"
    last = _day(states[MODES[0]].last_date)
    if date.fromisoformat(stored["signals_through"]) < last:
        return None, f"the stored state was built before the signals reached {last}"
    if bars.store.written_ns(last) != stored["bars_written_ns"]:
        return None, f"bars of days before {last} were rewritten"
    on_last = bars.read(last, last + timedelta(days=1)).select(HISTORY_COLUMNS)
    if not on_last.sort("symbol").equals(states[MODES[0]].bars_on_last_date()):
        return None, f"the bars of {last} were rewritten"
    return states, "extending the stored backtest"


def _stored_daily(mode: str) -> pl.DataFrame:
    """The asset's stored daily frame of strategy ``mode`` (empty: none stored)."""
    path = QuantHome.resolve().assets / "backtest.parquet"
    if not path.is_file():
        return pl.DataFrame()
    return pl.read_parquet(path).filter(pl.col("strategy") == mode).drop("strategy")


@dg.asset(group_name="backtest", kinds={"polars", "mlflow"})
def backtest(
    context: dg.AssetExecutionContext,
    config: BacktestAssetConfig,
    signals: pl.LazyFrame,
    raw_bars: StoredBars,
    mlflow: MlflowResource,
    portfolio: PortfolioResource,
) -> dg.Output[pl.DataFrame]:
    """Daily equity of each strategy; metrics go to MLflow (the model's run) and metadata.

    Portfolio rules come from the ``portfolio`` resource, the one ``target_portfolio`` trades.
    The vectorized backtest extends its stored state by the new days (see the module); the
    event-driven ``simulator`` runs over the whole history every time.
    """
    from quant_engine.simulation import SimulationConfig, simulate_signals  # numba kernels
    from quant_engine.simulation.records import strict

    costs = CostModel(
        config.commission_bps, config.half_spread_bps, config.impact_coef, config.impact_model
    )
    reports = QuantHome.resolve().reports
    latest = (
        signals.select(
            pl.col("model_version").sort_by("timestamp").last(), pl.col("timestamp").max()
        )
        .collect()
        .row(0)
    )
    model_uri, signals_through = latest[0], _day(latest[1])
    # one config for either simulator: the vectorized one reads its shared part
    rules = {
        mode: SimulationConfig(
            capital=config.capital, costs=costs, portfolio=portfolio.construction(mode)
        )
        for mode in MODES
    }
    results: dict[str, tuple[pl.DataFrame, dict[str, float]]] = {}
    last_weights: dict[str, dict] = {}  # mode -> the last rebalance's target weights
    runs: dict[str, DailyRun] = {}  # the vectorized runs
    built_from = {"model_version": model_uri, "corporate_actions": raw_bars.store.actions_digest()}
    reason = "full_rebuild is set"
    if config.simulator == "event_driven":
        reason = "the event-driven simulator runs over the whole history"
    elif not config.full_rebuild:
        states, reason = _stored_states(built_from, raw_bars)
        try:
            runs = {} if states is None else _extended(states, signals, raw_bars, rules)
        except NotExtendable as why:
            reason = str(why)
    context.log.info(f"backtest: {reason}")
    if config.simulator == "event_driven":
        bars, frame = raw_bars.read(), signals.collect()
        for mode in MODES:
            run = simulate_signals(frame, bars, rules[mode], reports / "simulations", mode)
            context.log.info(f"{mode} simulation artifacts in {run.artifacts}")
            results[mode] = (run.daily(), run.metrics)
    else:
        if not runs:
            runs = _whole(signals, raw_bars, rules)
        for mode, run in runs.items():
            results[mode] = (run.daily, run.metrics)
            weights = zip(run.symbols, run.weights, strict=True)
            last_weights[mode] = {
                "traded_at": str(run.daily["timestamp"][-1]),
                "weights": {s: float(w) for s, w in weights if w},
            }
    _store_states(runs, built_from, signals_through, raw_bars)
    chart = plot_equity_and_drawdown(
        {mode: daily for mode, (daily, _) in results.items()}, reports / "backtest_equity.png"
    )
    metrics = strict(  # strict JSON: a metric that is not a number (a flat run's Sharpe) is None
        {f"{mode}.{k}": v for mode, (_, m) in results.items() for k, v in m.items()}
    )
    write_json(reports / "backtest_metrics.json", metrics)

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
            "rebuild_reason": reason,
            **({"new_trade_dates": runs[MODES[0]].new_periods} if runs else {}),
            **{f"{m}.last_weights": dg.MetadataValue.json(w) for m, w in last_weights.items()},
            "impact_model": config.impact_model,
            "mlflow_run_id": run_id,
            "chart": dg.MetadataValue.path(str(chart)),
            "equity_and_drawdown": dg.MetadataValue.md(f"![equity](data:image/png;base64,{image})"),
        },
    )


def _whole(signals: pl.LazyFrame, bars: StoredBars, rules: dict) -> dict[str, DailyRun]:
    """Each strategy's backtest over the whole history (one panel for both)."""
    frame = bars.read()
    panel = MarketPanel.from_bars(frame, rules[MODES[0]].risk_window)
    scores = panel.align_scores(signals.select("timestamp", "symbol", "score").collect())
    return {mode: run_whole(panel, scores, frame, rules[mode]) for mode in MODES}


def _extended(
    states: dict[str, BacktestState], signals: pl.LazyFrame, bars: StoredBars, rules: dict
) -> dict[str, DailyRun]:
    """Each strategy's stored backtest extended by the bars after its state and the signals
    from its next decision on."""
    state = states[MODES[0]]
    later = bars.read(_day(state.last_date) + timedelta(days=1))
    recent = signals.filter(pl.col("timestamp") >= state.decided_at)
    recent = recent.select("timestamp", "symbol", "score").collect()
    return {
        mode: run_extended(states[mode], _stored_daily(mode), later, recent, rules[mode])
        for mode in MODES
    }


def _store_states(
    runs: dict[str, DailyRun], built_from: dict, signals_through: date, bars: StoredBars
) -> None:
    """Write each run's state with what it was built from (remove the stored ones when a run
    leaves none)."""
    for mode in MODES:
        path = _state_path(mode)
        state = runs[mode].state if mode in runs else None
        if state is None:
            path.unlink(missing_ok=True)
            continue
        stored = {
            "built_from": built_from,
            "signals_through": signals_through.isoformat(),
            "bars_written_ns": bars.store.written_ns(_day(state.last_date)),
        }
        state.save(path, stored)
