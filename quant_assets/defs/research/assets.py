"""Features, labels and the walk-forward LightGBM alpha model tracked in MLflow."""

from collections.abc import Iterator
from dataclasses import asdict

import dagster as dg
import polars as pl
from pydantic import Field

from quant_assets.resources import MlflowResource
from quant_engine.evaluation.promotion import decide_promotion
from quant_engine.evaluation.report import evaluate_predictions, lineage
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
from quant_engine.models.packaging import AlphaPyfunc

PROMOTION = "champion_promotion"


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
    valid_days: int = 0  # > 0: early stopping on the last days of each training window
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    seed: int = 0
    promotion_margin: float = 0.005  # rank IC the challenger must add to become champion
    promotion_window_days: int = 252  # last common out-of-sample days compared


@dg.asset(
    group_name="research",
    kinds={"lightgbm", "mlflow"},
    check_specs=[dg.AssetCheckSpec(PROMOTION, asset="alpha_model", blocking=True)],
)
def alpha_model(
    context: dg.AssetExecutionContext,
    config: AlphaModelConfig,
    features: pl.DataFrame,
    raw_bars: pl.DataFrame,
    mlflow: MlflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Walk-forward LightGBM, tracked in MLflow and registered as the challenger.

    Returns the out-of-sample scores. The blocking ``champion_promotion`` check moves the
    ``champion`` alias to this version only if it beats the champion on the same days.
    """
    walk = WalkForwardConfig(
        window=config.window,
        train_days=config.train_days,
        min_train_days=config.min_train_days,
        retrain_every=config.retrain_every,
        embargo_days=config.embargo_days,
        valid_days=config.valid_days,
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

    horizon = int(features[LABEL_HORIZON].max())
    result = run_walk_forward(
        features, names, lambda: LightGBMModel(lgbm), walk, horizon=horizon, on_fold=progress
    )
    report = evaluate_predictions(result, features, raw_bars)
    with mlflow.start_run(context, run_name="lightgbm-walk-forward") as run:
        mlflow.log_params(
            {
                "model_family": "lightgbm",
                **{f"walk_forward.{k}": v for k, v in asdict(walk).items()},
                **{f"model.{k}": v for k, v in asdict(lgbm).items()},
                **lineage(features, names),
            }
        )
        for fold in result.folds:
            with mlflow.start_run(context, run_name=f"fold-{fold.fold.index}", nested=True):
                mlflow.log_params({k: str(v) for k, v in asdict(fold.fold).items()})
                mlflow.log_metrics(
                    {"ic": fold.ic, "rank_ic": fold.rank_ic, "n_train": fold.n_train}
                )
            mlflow.log_metrics({"fold_ic": fold.ic, "fold_rank_ic": fold.rank_ic}, fold.fold.index)
        mlflow.log_metrics({**result.summary, **report.metrics})
        for name, figure in report.figures.items():
            mlflow.log_figure(figure, name)
        mlflow.log_predictions(result.predictions)
        example = features.select("symbol", "timestamp", *names).drop_nulls().tail(5)
        model_uri = mlflow.log_alpha_model(
            AlphaPyfunc(result.final_model, names), example, "lightgbm"
        )
    summary = result.summary
    yield dg.Output(
        result.predictions.with_columns(pl.lit(model_uri).alias("model_version")),
        metadata={
            "model_ic": summary["ic"],
            "model_rank_ic": summary["rank_ic"],
            "icir": summary["icir"],
            "ic_tstat": summary["ic_tstat"],
            **report.metrics,
            "folds": len(result.folds),
            "model_version": model_uri,
            "mlflow_run_id": run.info.run_id,
        },
    )
    champion = mlflow.champion()
    decision = decide_promotion(
        result.predictions,
        mlflow.predictions_of(champion) if champion else None,
        features,
        config.promotion_margin,
        config.promotion_window_days,
    )
    if decision.promote:
        mlflow.promote(model_uri.rsplit("/", 1)[1])
    context.log.info(f"promotion: {decision.reason}")
    yield dg.AssetCheckResult(
        check_name=PROMOTION,
        passed=True,
        metadata={
            "promoted": decision.promote,
            "reason": decision.reason,
            "challenger": model_uri,
            "previous_champion": mlflow.version_uri(champion.version) if champion else "none",
            "challenger_rank_ic": decision.challenger_rank_ic,
            "champion_rank_ic": decision.champion_rank_ic,
            "window_days": decision.window_days,
        },
    )
