"""The whole graph materialized in-process into a temporary QUANT_HOME, checked end to end."""

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from quant_assets.defs.market_data.assets import CHECKS as RAW_BARS_CHECKS
from quant_engine.data.store import BarStore
from quant_engine.evaluation import daily_ic, ic_summary, performance_metrics
from quant_engine.features import add_forward_return_label
from quant_engine.paths import QuantHome
from quant_engine.signals import read_signal_file

DISPLAY_REL = 5e-4  # Dagster metadata shows 4 significant digits; MLflow keeps them all


def _metadata(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


@pytest.fixture(scope="module")
def home(materialized) -> QuantHome:
    return QuantHome(materialized[0])


@pytest.fixture(scope="module")
def client(home) -> MlflowClient:
    return MlflowClient(tracking_uri=home.mlflow_tracking_uri)


def test_every_asset_and_check_succeeded(materialized):
    _, result = materialized
    keys = {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }
    assert keys == {
        "raw_bars",
        "features",
        "alpha_model",
        "champion",
        "signals",
        "backtest",
        "execution_costs",
    }
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        **dict.fromkeys(RAW_BARS_CHECKS, True),
        "features_reading_the_future": True,
        "shifted_label_probe": True,
        "champion_promotion": True,
    }


def test_mlflow_run_is_tagged_logged_and_registered(materialized, home, client):
    _, result = materialized
    model = _metadata(result, "alpha_model")
    run = client.get_run(model["mlflow_run_id"])
    assert run.data.tags["dagster.run_id"] == result.run_id
    assert run.data.tags["dagster.asset"] == "alpha_model"
    params = run.data.params
    assert params["model_family"] == "lightgbm"
    assert params["walk_forward.embargo_days"] == "1"
    assert params["data.n_features"] == "18" and len(params["data.hash"]) == 16
    assert run.data.metrics["ic"] == pytest.approx(model["model_ic"], rel=DISPLAY_REL)
    assert {"rank_ic", "icir", "rank_icir", "ic_decay_5", "quantile_spread"} <= set(
        run.data.metrics
    )
    assert len(client.get_metric_history(run.info.run_id, "fold_ic")) == model["folds"]
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(children) == model["folds"]
    assert {"ic", "rank_ic", "n_train"} <= set(children[0].data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"ic_over_time.png", "ic_decay.png", "quantile_returns.png"} <= artifacts
    assert "oos_predictions.parquet" in artifacts
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "quant-alpha"
    assert experiment.artifact_location.startswith(home.mlflow_artifacts.as_uri())

    name, version = model["model_version"].removeprefix("models:/").split("/")
    registered = client.get_model_version(name, version)
    assert registered.run_id == run.info.run_id
    assert registered.tags["family"] == "lightgbm"
    assert set(registered.aliases) == {"challenger", "champion"}  # the first model is champion
    mlflow.set_tracking_uri(home.mlflow_tracking_uri)
    info = mlflow.models.get_model_info(model["model_version"])
    assert {"symbol", "timestamp", "ret_5_rank"} <= set(info.signature.inputs.input_names())
    assert info.saved_input_example_info is not None


def test_signal_files_match_the_signals_asset(materialized, home):
    _, result = materialized
    asset = pl.read_parquet(home.assets / "signals.parquet")
    for path in (home.signals / "signals.parquet", home.signals / "signals.csv"):
        written = read_signal_file(path)
        assert written.columns == ["timestamp", "symbol", "score", "model_version"]
        assert written.height == asset.height
        np.testing.assert_allclose(
            written["score"].to_numpy(), asset.sort("timestamp", "symbol")["score"].to_numpy()
        )
    assert asset["model_version"].unique().to_list() == [
        _metadata(result, "alpha_model")["model_version"]
    ]


def test_reported_ic_is_the_ic_of_the_signals(materialized, home):
    _, result = materialized
    bars = BarStore(home.assets / "raw_bars.parquet").read()
    signals = pl.read_parquet(home.assets / "signals.parquet")
    summary = ic_summary(daily_ic(add_forward_return_label(signals, bars)))
    model = _metadata(result, "alpha_model")
    assert summary["ic"] == pytest.approx(model["model_ic"], rel=DISPLAY_REL)
    assert summary["rank_ic"] == pytest.approx(model["model_rank_ic"], rel=DISPLAY_REL)
    assert model["model_ic"] > 0.02
    # The oracle IC of the generator bounds what any model can learn from the same bars.
    assert model["model_ic"] < _metadata(result, "raw_bars")["oracle_ic"] * 1.2


def test_backtest_metrics_agree_across_asset_mlflow_and_reports(materialized, home, client):
    _, result = materialized
    meta = _metadata(result, "backtest")
    daily = pl.read_parquet(home.assets / "backtest.parquet")
    assert set(daily["strategy"]) == {"long_short", "long_only"}
    for mode in ("long_short", "long_only"):
        rows = daily.filter(pl.col("strategy") == mode)
        recomputed = performance_metrics(rows["net_return"].to_numpy(), rows["turnover"].to_numpy())
        assert meta[f"{mode}.sharpe"] == pytest.approx(recomputed["sharpe"], rel=DISPLAY_REL)
        assert meta[f"{mode}.max_drawdown"] == pytest.approx(
            recomputed["max_drawdown"], rel=DISPLAY_REL
        )
        assert rows["drawdown"].min() == pytest.approx(recomputed["max_drawdown"])
    run = client.get_run(meta["mlflow_run_id"])
    assert run.data.metrics["backtest.long_short.sharpe"] == pytest.approx(
        meta["long_short.sharpe"], rel=DISPLAY_REL
    )
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "backtest_equity.png" in artifacts
    chart = home.reports / "backtest_equity.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (home.reports / "backtest_metrics.json").is_file()


def test_mlflow_run_spans_training_with_dataset_importance_and_description(materialized, client):
    _, result = materialized
    model = _metadata(result, "alpha_model")
    run = client.get_run(model["mlflow_run_id"])
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    # Opened before the first fold, so the folds show up while the training runs.
    assert run.info.start_time <= min(c.info.start_time for c in children)
    assert [i.dataset.name for i in run.inputs.dataset_inputs] == ["features"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"feature_importance.json", "feature_importance.png"} <= artifacts
    top = model["feature_importance"].splitlines()
    assert top[0] == "| feature | importance (gain) |" and len(top) == 2 + 18  # all 18, <= 20
    params = list(run.data.params)
    assert "config_hash" in params and len(run.data.params["config_hash"]) == 16
    name, version = model["model_version"].removeprefix("models:/").split("/")
    description = client.get_model_version(name, version).description
    assert description.startswith("lightgbm trained walk-forward") and "rank IC" in description


def test_features_and_signals_carry_their_column_schema(materialized):
    _, result = materialized
    features = _metadata(result, "features")["dagster/column_schema"]
    names = [c.name for c in features.columns]
    assert names[:2] == ["symbol", "timestamp"] and {"ret_5_rank", "label"} <= set(names)
    label = next(c for c in features.columns if c.name == "label")
    assert label.type == "Float64" and "open[t+1+h]" in label.description
    signals = _metadata(result, "signals")["dagster/column_schema"]
    assert [c.name for c in signals.columns] == ["timestamp", "symbol", "score", "model_version"]
    backtest = _metadata(result, "backtest")["dagster/column_schema"]
    assert "net_return" in [c.name for c in backtest.columns]
