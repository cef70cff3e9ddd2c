import dagster as dg
import pytest

from quant_assets.defs.research.assets import AlphaModelConfig, alpha_model
from quant_assets.defs.research.features import FeaturesConfig, features
from quant_assets.resources import MlflowResource


def test_alpha_model_embargoes_by_the_horizon_the_features_were_labelled_with(
    small_market, quant_home
):
    labelled = features(config=FeaturesConfig(label_horizon=3), raw_bars=small_market.bars).value
    assert labelled["label_horizon"].unique().to_list() == [3]
    with pytest.raises(ValueError, match="embargo_days=1 is shorter than the label horizon 3"):
        list(  # the asset yields its output and check result: run it to completion
            alpha_model(
                context=dg.build_asset_context(),
                config=AlphaModelConfig(min_train_days=250, retrain_every=90, embargo_days=1),
                features=labelled,
                raw_bars=small_market.bars,
                mlflow=MlflowResource(),
            )
        )


def test_features_asset_builds_the_configured_sets(small_market):
    config = FeaturesConfig(factor_sets=["basic", "alpha158"], normalize="rank")
    output = features(config=config, raw_bars=small_market.bars)
    frame = output.value
    assert output.metadata["n_features"].value == 18 + 158
    assert {"ret_5_rank", "RSQR60", "label", "label_horizon"} <= set(frame.columns)
    assert frame["RSQR60"].drop_nulls().max() == 1.0  # ranked across symbols per day
