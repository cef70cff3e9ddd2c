"""The daily job scores days the walk-forward has not seen with the registered model."""

import dagster as dg
import numpy as np
import polars as pl
import pytest

from quant_assets.defs.signals.assets import signals
from quant_assets.resources import MlflowResource


def test_new_days_are_scored_by_the_registered_model(materialized_home, monkeypatch):
    monkeypatch.setenv("QUANT_HOME", str(materialized_home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assets = materialized_home / "assets"
    predictions = pl.read_parquet(assets / "alpha_model.parquet")
    features = pl.read_parquet(assets / "features.parquet")
    cutoff = predictions["timestamp"].unique().sort()[-15]
    # Pretend the model was trained before the last 15 days arrived.
    older = predictions.filter(pl.col("timestamp") < cutoff)
    output = signals(
        context=dg.build_asset_context(),
        alpha_model=older,
        features=features,
        mlflow=MlflowResource(),
    )
    scored = output.value.sort("timestamp", "symbol")
    assert scored["timestamp"].max() == features["timestamp"].max()
    new = scored.filter(pl.col("timestamp") >= cutoff)
    assert new["timestamp"].n_unique() == 15
    # The latest fold's model is the registered one: MLflow's copy gives the same scores.
    expected = predictions.filter(pl.col("timestamp") >= cutoff).sort("timestamp", "symbol")
    np.testing.assert_allclose(new["score"].to_numpy(), expected["score"].to_numpy(), rtol=1e-9)
    assert new["model_version"].unique().to_list() == expected["model_version"].unique().to_list()
    assert output.metadata["last_date"].value == str(features["timestamp"].max())


@pytest.fixture(autouse=True)
def _restore_mlflow_uri():
    import mlflow

    before = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(before)
