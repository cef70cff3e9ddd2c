"""Daily scores per symbol from the champion model, written as signal files."""

import dagster as dg
import polars as pl

from quant_assets.metadata import column_schema, frame_summary, mlflow_run_link
from quant_assets.resources import MlflowResource
from quant_engine.features import feature_names
from quant_engine.paths import QuantHome
from quant_engine.signals import write_signal_files


@dg.asset(group_name="signals", kinds={"polars", "parquet", "csv"}, deps=["champion"])
def signals(
    context: dg.AssetExecutionContext, features: pl.DataFrame, mlflow: MlflowResource
) -> dg.Output[pl.DataFrame]:
    """The champion's out-of-sample scores, extended to newer days by the champion itself.

    Scores come from ``models:/<name>@champion`` (chosen by the ``champion`` asset upstream):
    its walk-forward predictions, and for days
    after them (the daily job runs without retraining) the registered model's own scores.
    """
    champion = mlflow.champion()
    if champion is None:
        raise dg.Failure("no champion model is registered: materialize alpha_model first")
    uri = mlflow.version_uri(champion.version)
    scored = mlflow.predictions_of(champion).select(
        "timestamp", "symbol", "score", pl.lit(uri).alias("model_version")
    )
    last = scored["timestamp"].max()
    if features["timestamp"].max() > last:
        model = mlflow.load_model(uri)
        names = feature_names(features)
        everything = features.select("symbol", "timestamp", *names)
        all_scores = everything.with_columns(pl.Series("score", model.score(everything)))
        newer = all_scores.filter(pl.col("timestamp") > last)
        context.log.info(f"scoring {newer['timestamp'].n_unique()} new day(s) with {uri}")
        scored = pl.concat(
            [
                scored,
                newer.select("timestamp", "symbol", "score", pl.lit(uri).alias("model_version")),
            ]
        )
    parquet, csv = write_signal_files(scored, QuantHome.resolve().signals)
    return dg.Output(
        scored,
        metadata={
            "signal_file": dg.MetadataValue.path(str(parquet)),
            "signal_csv": dg.MetadataValue.path(str(csv)),
            "model_version": uri,
            **frame_summary(scored),
            **column_schema(
                scored,
                {
                    "timestamp": "session (UTC) after whose close the score is known",
                    "symbol": "instrument",
                    "score": "higher: higher expected return from the next open",
                    "model_version": "the registered model that scored the row",
                },
            ),
            **mlflow_run_link(mlflow.experiment_id(), champion.run_id),
        },
    )
