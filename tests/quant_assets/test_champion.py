"""The champion asset: challengers of a run face the champion by the stated paired test."""

import uuid

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest

from quant_assets.defs.research.promotion import PROMOTION, champion
from quant_assets.resources import MlflowResource, PolarsParquetIOManager
from quant_engine.features import add_forward_return_label


def _scores(labelled: pl.DataFrame, skill: float, seed: int) -> pl.DataFrame:
    """Out-of-sample scores with a chosen amount of the true expected return in them."""
    noise = np.random.default_rng(seed).standard_normal(labelled.height)
    truth = labelled["expected_return"].to_numpy()
    return labelled.select(
        "symbol", "timestamp", pl.Series("score", skill * truth / truth.std() + noise)
    )


def _register(resource: MlflowResource, scores: pl.DataFrame, family: str, run_id: str) -> str:
    """A training run's traces as the champion asset reads them: predictions and a version."""
    mlflow.set_tracking_uri(resource.uri())
    with mlflow.start_run(experiment_id=resource.experiment_id()) as run:
        mlflow.log_params({"model_family": family, "walk_forward.retrain_every": 63})
        resource.log_predictions(scores)
    client = resource.client()
    if not client.search_registered_models(f"name = '{resource.registered_model_name}'"):
        client.create_registered_model(resource.registered_model_name)
    version = client.create_model_version(
        resource.registered_model_name,
        source=run.info.artifact_uri,
        run_id=run.info.run_id,
        tags={"family": family, "dagster.run_id": run_id},
    )
    return version.version


@pytest.fixture
def labelled(small_market, quant_home):
    frame = add_forward_return_label(small_market.expected_returns, small_market.bars)
    (quant_home / "assets").mkdir(parents=True)
    frame.drop("expected_return").write_parquet(quant_home / "assets" / "features.parquet")
    return frame


def _run(labelled, *challengers: tuple[float | pl.DataFrame, str]):
    """One Dagster run of ``champion`` after registering ``challengers`` under its run id."""
    run_id = str(uuid.uuid4())
    resource = MlflowResource()
    for i, (skill, family) in enumerate(challengers):
        scores = _scores(labelled, skill, i) if isinstance(skill, float) else skill
        _register(resource, scores, family, run_id)
    job = dg.Definitions(
        assets=[champion, dg.AssetSpec("features")],  # features: read from QUANT_HOME
        resources={"mlflow": resource, "io_manager": PolarsParquetIOManager()},
    ).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(run_id=run_id, instance=dg.DagsterInstance.ephemeral())
    assert result.success
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == PROMOTION
    return {k: v.value for k, v in check.metadata.items()}, check.passed


def test_a_challenger_better_over_the_whole_period_becomes_champion(labelled):
    first, passed = _run(labelled, (0.3, "ridge"))
    assert first["promoted"] and first["reason"] == "no champion yet" and passed
    second, passed = _run(labelled, (1.0, "lightgbm"))
    assert second["promoted"] and passed
    assert second["champion"] == "models:/quant_alpha/2" and second["champion_family"] == "lightgbm"
    days = labelled.drop_nulls("label")["timestamp"].n_unique()
    assert second["n_days"] == days and second["p_value"] < 0.05
    assert second["mean_rank_ic_difference"] > 0 and "beats" in second["reason"]
    assert "paired t-test" in second["rule"]
    assert str(MlflowResource().champion().version) == "2"


def test_a_challenger_better_only_in_the_last_months_does_not(labelled):
    _run(labelled, (0.5, "ridge"))
    dates = labelled["timestamp"].unique().sort()
    recent = pl.col("timestamp") >= dates[-126]
    late_bloomer = (
        _scores(labelled, 0.05, 7)
        .join(_scores(labelled, 2.0, 8), on=["symbol", "timestamp"], suffix="_good")
        .select(
            "symbol",
            "timestamp",
            pl.when(recent).then("score_good").otherwise("score").alias("score"),
        )
    )
    decision, passed = _run(labelled, (late_bloomer, "lstm"))
    assert not decision["promoted"] and passed
    assert decision["champion"] == "models:/quant_alpha/1"
    assert decision["mean_rank_ic_difference"] < 0 and "does not beat" in decision["reason"]
    assert decision["p_value"] > 0.5


def test_a_comparison_on_too_few_days_fails_the_check(labelled):
    _run(labelled, (0.5, "ridge"))
    dates = labelled["timestamp"].unique().sort()
    short = _scores(labelled, 1.0, 3).filter(pl.col("timestamp") >= dates[-30])
    decision, passed = _run(labelled, (short, "mlp"))
    assert not passed and not decision["promoted"] and "not compared" in decision["reason"]
