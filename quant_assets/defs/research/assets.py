"""Features, labels and the walk-forward LightGBM alpha model tracked in MLflow."""

from dataclasses import asdict

import dagster as dg
import polars as pl
from pydantic import Field

from quant_assets.resources import MlflowResource
from quant_engine.features import (
    LABEL,
    LABEL_HORIZON,
    FactorSetConfig,
    LabelConfig,
    add_forward_return_label,
    build_factor_sets,
    feature_names,
)
from quant_engine.models import LightGBMConfig, LightGBMModel, WalkForwardConfig, run_walk_forward


class FeaturesConfig(dg.Config):
    factor_sets: list[str] = Field(default_factory=lambda: ["basic"])  # names in FACTOR_SETS
    normalize: str = "none"  # none | zscore | rank, across symbols per day
    label_horizon: int = 1


@dg.asset(group_name="research", kinds={"polars", "parquet"})
def features(config: FeaturesConfig, raw_bars: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """The chosen factor sets per (symbol, day) plus the forward-return label (null if unknown)."""
    factors = build_factor_sets(
        raw_bars, FactorSetConfig(tuple(config.factor_sets), config.normalize)
    )
    frame = add_forward_return_label(factors, raw_bars, LabelConfig(config.label_horizon))
    return dg.Output(
        frame,
        metadata={
            "factor_sets": ", ".join(config.factor_sets),
            "normalize": config.normalize,
            "n_features": len(feature_names(frame)),
            "label_horizon": config.label_horizon,
            "labelled_rows": frame[LABEL].is_not_null().sum(),
        },
    )


class AlphaModelConfig(dg.Config):
    window: str = "expanding"
    train_days: int = 756
    min_train_days: int = 504
    retrain_every: int = 63
    embargo_days: int = 1  # must be at least the label horizon of the features
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    seed: int = 0


@dg.asset(group_name="research", kinds={"lightgbm", "mlflow"})
def alpha_model(
    context: dg.AssetExecutionContext,
    config: AlphaModelConfig,
    features: pl.DataFrame,
    mlflow: MlflowResource,
) -> dg.Output[pl.DataFrame]:
    """Walk-forward LightGBM: logs to MLflow, registers the latest model, returns OOS scores."""
    walk = WalkForwardConfig(
        window=config.window,
        train_days=config.train_days,
        min_train_days=config.min_train_days,
        retrain_every=config.retrain_every,
        embargo_days=config.embargo_days,
    )
    lgbm = LightGBMConfig(
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        seed=config.seed,
    )
    names = feature_names(features)

    def progress(fold, n_folds: int) -> None:
        context.log.info(
            f"fold {fold.fold.index + 1}/{n_folds}: test {fold.fold.test_start:%Y-%m-%d}.."
            f"{fold.fold.test_end:%Y-%m-%d} IC={fold.ic:.4f} rank IC={fold.rank_ic:.4f}"
        )

    result = run_walk_forward(
        features,
        names,
        lambda: LightGBMModel(lgbm),
        walk,
        horizon=int(features[LABEL_HORIZON].max()),
        on_fold=progress,
    )
    with mlflow.start_run(context, run_name="lightgbm-walk-forward") as run:
        mlflow.log_params({f"walk_forward.{k}": v for k, v in asdict(walk).items()})
        mlflow.log_params({f"lightgbm.{k}": v for k, v in asdict(lgbm).items()})
        mlflow.log_params(
            {
                "model_family": "lightgbm",
                "n_features": len(names),
                "n_symbols": features["symbol"].n_unique(),
                "first_date": str(features["timestamp"].min()),
                "last_date": str(features["timestamp"].max()),
            }
        )
        for fold in result.folds:
            mlflow.log_metrics({"fold_ic": fold.ic, "fold_rank_ic": fold.rank_ic}, fold.fold.index)
        mlflow.log_metrics(result.summary)
        example = features.select(names).drop_nulls().tail(5).to_pandas()
        model_uri = mlflow.log_lightgbm_model(result.final_model.booster, example)
    summary = result.summary
    return dg.Output(
        result.predictions.with_columns(pl.lit(model_uri).alias("model_version")),
        metadata={
            "model_ic": summary["ic"],
            "model_rank_ic": summary["rank_ic"],
            "icir": summary["icir"],
            "ic_tstat": summary["ic_tstat"],
            "folds": len(result.folds),
            "model_version": model_uri,
            "mlflow_run_id": run.info.run_id,
        },
    )
