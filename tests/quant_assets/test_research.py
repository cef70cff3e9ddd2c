import dagster as dg
import polars as pl
import pytest

from quant_assets.defs.research.assets import AlphaModelConfig, alpha_model
from quant_assets.defs.research.features import FeaturesConfig, features
from quant_assets.resources import DayFrameIOManager, MlflowResource, StoredBars
from quant_engine.data.store import BarStore, DayFrameStore
from quant_engine.features import FACTOR_SETS
from tests.conftest import materialize_pipeline


def _built(config: FeaturesConfig, bars: pl.DataFrame, home) -> list:
    """What the features asset yields (invoked directly) on ``bars`` stored under ``home``."""
    store = BarStore(home / "raw_bars.parquet")
    store.write(bars)
    context = dg.build_asset_context(
        resources={"day_store_io_manager": DayFrameIOManager(base_dir=str(home))}
    )
    return list(features(context=context, config=config, raw_bars=StoredBars(store)))


def test_alpha_model_embargoes_by_the_horizon_the_features_were_labelled_with(
    small_market, quant_home
):
    built = _built(FeaturesConfig(label_horizon=3), small_market.bars, quant_home)
    labelled = next(iter(built)).value.frame
    assert labelled["label_horizon"].unique().to_list() == [3]
    stored = DayFrameStore(quant_home / "features.parquet")  # what the asset reads its input from
    stored.write(labelled, replace_all=True)
    with pytest.raises(ValueError, match="embargo_days=1 is shorter than the label horizon 3"):
        list(  # the asset yields its output and check result: run it to completion
            alpha_model(
                context=dg.build_asset_context(),
                config=AlphaModelConfig(min_train_days=250, retrain_every=90, embargo_days=1),
                features=stored,
                raw_bars=small_market.bars,
                mlflow=MlflowResource(),
            )
        )


def test_features_asset_builds_the_configured_sets(small_market, tmp_path):
    config = FeaturesConfig(factor_sets=["basic", "alpha158"], normalize="rank")
    output = next(o for o in _built(config, small_market.bars, tmp_path) if o.output_name)
    frame = output.value.frame
    assert output.metadata["n_features"].value == 18 + 158
    assert {"ret_5_rank", "RSQR60", "label", "label_horizon"} <= set(frame.columns)
    assert frame["RSQR60"].drop_nulls().max() == 1.0  # ranked across symbols per day


def _peek(bars: pl.DataFrame) -> pl.DataFrame:
    """A factor set with one factor that reads tomorrow's close."""
    peek = (pl.col("close").shift(-1) / pl.col("close")).over("symbol").alias("peek")
    return bars.sort("symbol", "timestamp").select("symbol", "timestamp", peek)


def test_a_leaky_feature_stops_the_graph_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(FACTOR_SETS, "peek", _peek)
    home = tmp_path / "home"
    result = materialize_pipeline(home, features_config={"factor_sets": ["basic", "peek"]})
    assert not result.success
    evaluations = result.get_asset_check_evaluations()
    check = next(e for e in evaluations if e.asset_key.path == ["features"])
    assert check.check_name == "features_reading_the_future" and not check.passed
    assert check.metadata["reading_the_future"].value == "peek"
    materialized = {
        e.materialization.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
    }
    assert materialized == {"raw_bars", "execution_costs"}  # nothing from features on
    assert not (home / "assets" / "features.parquet").exists()
    assert not (home / "mlflow").exists() or not list((home / "mlflow").rglob("*.parquet"))
