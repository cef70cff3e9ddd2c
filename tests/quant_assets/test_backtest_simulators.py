"""The backtest asset gives the same metrics with either simulator."""

import json

import dagster as dg
import pytest

from quant_assets.definitions import defs
from quant_assets.resources import MarketDataResource
from tests.conftest import SMALL_MARKET, spine_assets


def _backtest(home, simulator: str, monkeypatch, impact_model: str = "square_root") -> dict:
    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    definitions = defs()
    result = dg.materialize(
        spine_assets(definitions),
        selection=["backtest"],  # upstream assets load from the materialized home
        resources={**definitions.resources, "market_data": MarketDataResource(**SMALL_MARKET)},
        run_config={
            "ops": {"backtest": {"config": {"simulator": simulator, "impact_model": impact_model}}}
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    (event,) = result.get_asset_materialization_events()
    shown = {k: v.value for k, v in event.materialization.metadata.items()}
    # The metadata shows rounded metrics; the report keeps every digit.
    return {**shown, **json.loads((home / "reports" / "backtest_metrics.json").read_text())}


def _assert_same_metrics(one: dict, other: dict) -> None:
    for mode in ("long_short", "long_only"):
        for metric in ("sharpe", "annual_return", "max_drawdown", "avg_daily_turnover"):
            key = f"{mode}.{metric}"
            assert one[key] == pytest.approx(other[key], rel=1e-9), key


def test_vectorized_and_event_driven_backtests_agree(materialized_home, monkeypatch):
    linear = {
        simulator: _backtest(materialized_home, simulator, monkeypatch, "linear")
        for simulator in ("event_driven", "vectorized")
    }
    _assert_same_metrics(linear["event_driven"], linear["vectorized"])
    # The vectorized square-root run goes last, leaving the home as the pipeline made it.
    event = _backtest(materialized_home, "event_driven", monkeypatch)
    vectorized = _backtest(materialized_home, "vectorized", monkeypatch)
    assert event["simulator"] == "event_driven" and vectorized["simulator"] == "vectorized"
    _assert_same_metrics(event, vectorized)
    assert linear["vectorized"]["impact_model"] == "linear"
    assert linear["vectorized"]["long_short.sharpe"] != vectorized["long_short.sharpe"]
    runs = list((materialized_home / "reports" / "simulations").iterdir())
    assert {r.name.split("-")[0] for r in runs} == {"long_short", "long_only"}
    assert all((r / "manifest.json").is_file() for r in runs)
