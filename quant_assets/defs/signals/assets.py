"""Daily scores per symbol, written as signal files."""

import dagster as dg
import polars as pl

from quant_assets.resources import MlflowResource
from quant_engine.features import feature_names
from quant_engine.paths import QuantHome
from quant_engine.signals import write_signal_files


@dg.asset(group_name="signals", kinds={"polars", "parquet", "csv"})
def signals(
    context: dg.AssetExecutionContext,
    alpha_model: pl.DataFrame,
    features: pl.DataFrame,
    mlflow: MlflowResource,
) -> dg.Output[pl.DataFrame]:
    """Out-of-sample walk-forward scores, extended to newer days by the registered model.

    Days after the model's last prediction (the daily job runs without retraining) are scored
    with the version that made the latest predictions, loaded from the MLflow registry.
    """
    scored = alpha_model.select("timestamp", "symbol", "score", "model_version")
    latest_uri = scored.sort("timestamp")["model_version"][-1]
    newer = features.filter(pl.col("timestamp") > scored["timestamp"].max())
    if newer.height:
        context.log.info(f"scoring {newer['timestamp'].n_unique()} new day(s) with {latest_uri}")
        model = mlflow.load_model(latest_uri)
        names = feature_names(features)
        scores = model.predict(newer.select(names).to_pandas())
        scored = pl.concat(
            [
                scored,
                newer.select(
                    "timestamp",
                    "symbol",
                    pl.Series("score", scores, dtype=pl.Float64),
                    pl.lit(latest_uri).alias("model_version"),
                ),
            ]
        )
    parquet, csv = write_signal_files(scored, QuantHome.resolve().signals)
    return dg.Output(
        scored,
        metadata={
            "signal_file": dg.MetadataValue.path(str(parquet)),
            "signal_csv": dg.MetadataValue.path(str(csv)),
            "model_version": latest_uri,
            "first_date": str(scored["timestamp"].min()),
            "last_date": str(scored["timestamp"].max()),
        },
    )
