"""Every family asset tracks the same things in MLflow and competes for the champion alias."""

import mlflow
import numpy as np
import polars as pl
from mlflow.tracking import MlflowClient

from quant_assets.resources import MlflowResource


def _parent_runs(client: MlflowClient):
    experiment = client.get_experiment_by_name("quant-alpha")
    runs = client.search_runs([experiment.experiment_id])
    return {
        r.data.params["model_family"]: r for r in runs if "mlflow.parentRunId" not in r.data.tags
    }


def test_families_log_the_same_layout(zoo):
    home, _ = zoo
    parents = _parent_runs(MlflowClient(home.mlflow_tracking_uri))
    assert set(parents) == {"lightgbm", "ridge", "lstm"}
    metric_names = {family: set(run.data.metrics) for family, run in parents.items()}
    assert metric_names["ridge"] == metric_names["lightgbm"] == metric_names["lstm"]

    def shared_params(run):
        return {k for k in run.data.params if not k.startswith("model.")}

    assert shared_params(parents["ridge"]) == shared_params(parents["lstm"])
    assert parents["lstm"].data.params["model.architecture"] == "lstm"


def test_each_family_reports_its_strategy_with_honest_sharpe_statistics(zoo):
    home, _ = zoo
    parents = _parent_runs(MlflowClient(home.mlflow_tracking_uri))
    for run in parents.values():
        m = run.data.metrics
        for strategy in ("long_short", "long_only"):
            low, high = m[f"{strategy}.sharpe_ci_low"], m[f"{strategy}.sharpe_ci_high"]
            assert low < m[f"{strategy}.sharpe"] < high
        assert 0.0 <= m["long_short.deflated_sharpe"] <= 1.0
    # Every run counts the runs before it as trials: the third family faces two rivals.
    assert sorted(run.data.metrics["n_trials"] for run in parents.values()) == [1, 2, 3]
    artifacts = {
        a.path
        for a in MlflowClient(home.mlflow_tracking_uri).list_artifacts(parents["ridge"].info.run_id)
    }
    assert "equity.png" in artifacts


def test_the_champion_is_one_of_the_family_versions(zoo):
    home, result = zoo
    client = MlflowClient(home.mlflow_tracking_uri)
    versions = client.search_model_versions("name = 'quant_alpha'")
    assert sorted(v.tags["family"] for v in versions) == ["lightgbm", "lstm", "ridge"]
    champion = client.get_model_version_by_alias("quant_alpha", "champion")
    assert champion.version in {v.version for v in versions}
    decided = pl.read_parquet(home.assets / "champion.parquet")  # one row per comparison
    assert decided["family"].sort().to_list() == ["lightgbm", "lstm", "ridge"]
    assert decided["promoted"][0] and decided["previous_champion"][0] == "none"  # the first is
    assert decided["same_walk_forward"].all()
    assert decided["n_days"][1:].min() > 63 and decided["p_value"][1:].is_not_null().all()
    check = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "champion_promotion"
    )
    assert check.passed and "paired t-test" in check.metadata["rule"].value


def test_registered_lstm_reproduces_its_out_of_sample_scores(zoo, monkeypatch):
    home, result = zoo
    monkeypatch.setenv("QUANT_HOME", str(home.root))
    lstm = next(
        {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.materialization.asset_key.to_user_string() == "alpha_lstm"
    )
    model = MlflowResource().load_model(lstm["model_version"])
    features = pl.read_parquet(home.assets / "features.parquet")
    predictions = pl.read_parquet(home.assets / "alpha_lstm.parquet")
    last_fold = predictions.filter(pl.col("fold") == predictions["fold"].max())
    rescored = features.with_columns(pl.Series("again", model.score(features))).join(
        last_fold, on=["symbol", "timestamp"]
    )
    # float32 network scored in other batch shapes: equal up to summation-order round-off
    np.testing.assert_allclose(rescored["again"], rescored["score"], rtol=1e-4, atol=1e-5)
    info = mlflow.models.get_model_info(lstm["model_version"])
    assert info.signature is not None and info.saved_input_example_info is not None
