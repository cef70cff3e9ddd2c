"""Signals come from the champion; the daily job scores new days without retraining."""

import dagster as dg
import numpy as np
import polars as pl
import pytest

from quant_assets.definitions import defs
from quant_assets.defs.market_data.history import seed_history
from quant_assets.defs.market_data.partitions import range_tags
from quant_assets.resources import MarketDataResource, MlflowResource
from quant_engine.data.sources.synthetic import SyntheticSource
from tests.conftest import SMALL_MARKET, materialize_pipeline, spine_assets


def _events(result, asset: str) -> dict:
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in event.materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def test_daily_job_scores_new_days_with_the_champion(tmp_path, monkeypatch):
    home = tmp_path / "home"
    first = materialize_pipeline(home)
    assert first.success
    champion_uri = _events(first, "signals")["model_version"]

    monkeypatch.setenv("QUANT_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    definitions = defs()
    daily = definitions.resolve_job_def("daily_pipeline_job")
    selected = {k.to_user_string() for k in daily.asset_layer.selected_asset_keys}
    # Five more trading days of the same market (a longer market extends a shorter one):
    # the run ingests just their raw_bars partitions; downstream reads every stored day.
    longer = MarketDataResource(**{**SMALL_MARKET, "n_days": SMALL_MARKET["n_days"] + 5})
    new_sessions = SyntheticSource(longer.synthetic_config()).days()[-5:]
    later = dg.materialize(
        [a for a in definitions.assets if a.key.to_user_string() in selected],
        resources={**definitions.resources, "market_data": longer},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags=range_tags(new_sessions[0], new_sessions[-1]),
    )
    assert later.success
    signals = pl.read_parquet(home / "assets" / "signals.parquet")
    features = pl.read_parquet(home / "assets" / "features.parquet")
    new_days = features["timestamp"].unique().sort().tail(5)
    assert signals["timestamp"].max() == new_days[-1]
    fresh = signals.filter(pl.col("timestamp").is_in(new_days.implode()))
    assert fresh.height == 5 * SMALL_MARKET["n_symbols"] and fresh["score"].is_finite().all()
    assert signals["model_version"].unique().to_list() == [champion_uri]

    # The registered champion is the model that made the last fold's walk-forward scores.
    model = MlflowResource().load_model(champion_uri)
    predictions = pl.read_parquet(home / "assets" / "alpha_model.parquet")
    last_fold = predictions.filter(pl.col("fold") == predictions["fold"].max())
    rescored = features.with_columns(pl.Series("again", model.score(features))).join(
        last_fold, on=["symbol", "timestamp"]
    )
    np.testing.assert_allclose(rescored["again"], rescored["score"], rtol=1e-9)


def _retrain(home, factor_sets: list[str]) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QUANT_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        definitions = defs()
        last_day = seed_history(MarketDataResource(**SMALL_MARKET))
        return dg.materialize(
            spine_assets(definitions, exclude=("backtest",)),
            resources={**definitions.resources, "market_data": MarketDataResource(**SMALL_MARKET)},
            run_config={
                "ops": {
                    "features": {"config": {"factor_sets": factor_sets}},
                    "alpha_model": {"config": {"min_train_days": 250, "retrain_every": 90}},
                }
            },
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
            partition_key=last_day.isoformat(),
        )


def test_only_a_better_challenger_becomes_champion(tmp_path):
    home = tmp_path / "home"
    # Raw Alpha158 factors carry no cross-sectional view, so they learn the planted
    # cross-sectional signal less well than the basic set with its ranks.
    weak, strong = ["alpha158"], ["basic"]
    decisions, trials = [], []
    for factor_sets in (weak, strong, weak):
        result = _retrain(home, factor_sets)
        assert result.success
        check = next(
            e for e in result.get_asset_check_evaluations() if e.check_name == "champion_promotion"
        )
        decisions.append(
            (
                check.metadata["promoted"].value,
                _events(result, "alpha_model")["model_version"],
                _events(result, "signals")["model_version"],
            )
        )
        trials.append(_events(result, "alpha_model")["n_trials"])
    (first, v1, s1), (second, v2, s2), (third, v3, s3) = decisions
    assert first and s1 == v1  # no champion yet: the first model is promoted
    assert second and s2 == v2  # the stronger model beats it
    assert not third and s3 == v2  # a weaker challenger leaves the champion and signals alone
    assert len({v1, v2, v3}) == 3
    # The third run repeats the first configuration: it is no new trial for the deflated Sharpe.
    assert trials == [1, 2, 2]
