"""What every model-family asset does: walk-forward training, MLflow tracking, registration
as the challenger, and the champion promotion check."""

from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from typing import Any

import dagster as dg
import polars as pl

from quant_assets.metadata import figure_markdown, frame_summary, mlflow_run_link
from quant_assets.resources import MlflowResource
from quant_engine.evaluation.performance import TRADING_DAYS
from quant_engine.evaluation.promotion import decide_promotion
from quant_engine.evaluation.report import EvaluationReport, evaluate_predictions, lineage
from quant_engine.evaluation.sharpe import deflated_sharpe_ratio
from quant_engine.features import LABEL_HORIZON, feature_names
from quant_engine.models import AlphaModel, WalkForwardConfig, run_walk_forward
from quant_engine.models.packaging import AlphaPyfunc

PROMOTION = "champion_promotion"


class TrainingConfig(dg.Config):
    """Walk-forward splits and the promotion rule, shared by every family."""

    window: str = "expanding"
    train_days: int = 756
    min_train_days: int = 504
    retrain_every: int = 63
    embargo_days: int = 1  # must be at least the label horizon of the features
    valid_days: int = 0  # > 0: early stopping on the last days of each training window
    promotion_margin: float = 0.005  # rank IC the challenger must add to become champion
    promotion_window_days: int = 252  # last common out-of-sample days compared

    def walk_forward(self) -> WalkForwardConfig:
        return engine_config(WalkForwardConfig, self)


def engine_config(kind: type, config: dg.Config, **extra: Any) -> Any:
    """Build the engine's frozen config ``kind`` from the same-named fields of ``config``."""
    values = config.model_dump()
    names = {field.name for field in fields(kind)}
    return kind(**{k: v for k, v in values.items() if k in names}, **extra)


def deflated_sharpe(mlflow: MlflowResource, report: EvaluationReport) -> dict[str, float]:
    """The long/short deflated Sharpe ratio, each earlier run of the experiment a trial."""
    trials = [*mlflow.metric_across_runs("long_short.sharpe"), report.metrics["long_short.sharpe"]]
    per_period = [s / TRADING_DAYS**0.5 for s in trials]
    returns = report.daily_returns["long_short"]["net_return"].to_numpy()
    dsr = deflated_sharpe_ratio(returns, len(trials), per_period if len(trials) > 2 else None)
    return {"long_short.deflated_sharpe": dsr, "n_trials": float(len(trials))}


def promotion_check(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(PROMOTION, asset=asset, blocking=True)


def train_and_register(
    context: dg.AssetExecutionContext,
    family: str,
    model_factory: Callable[[], AlphaModel],
    model_config: Any,
    training: TrainingConfig,
    features: pl.DataFrame,
    raw_bars: pl.DataFrame,
    mlflow: MlflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Train ``family`` walk-forward, track and register it, then decide on promotion.

    Every family logs the same params layout and metric names, so comparing them in MLflow
    is a matter of selecting runs.
    """
    walk = training.walk_forward()
    names = feature_names(features)

    def progress(fold, n_folds: int) -> None:
        context.log.info(
            f"{family} fold {fold.fold.index + 1}/{n_folds}: test "
            f"{fold.fold.test_start:%Y-%m-%d}..{fold.fold.test_end:%Y-%m-%d} "
            f"IC={fold.ic:.4f} rank IC={fold.rank_ic:.4f}"
        )

    horizon = int(features[LABEL_HORIZON].max())
    result = run_walk_forward(features, names, model_factory, walk, horizon, progress)
    report = evaluate_predictions(result, features, raw_bars)
    with mlflow.start_run(context, run_name=f"{family}-walk-forward") as run:
        mlflow.log_params(
            {
                "model_family": family,
                **{f"walk_forward.{k}": v for k, v in asdict(walk).items()},
                **{f"model.{k}": v for k, v in asdict(model_config).items()},
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
        report.metrics.update(deflated_sharpe(mlflow, report))
        mlflow.log_metrics({**result.summary, **report.metrics})
        for name, figure in report.figures.items():
            mlflow.log_figure(figure, name)
        mlflow.log_predictions(result.predictions)
        # Enough history of one symbol for sequence models to fill their windows.
        example = features.filter(pl.col("symbol") == features["symbol"][0]).tail(64)
        model_uri = mlflow.log_alpha_model(
            AlphaPyfunc(result.final_model, names),
            example.select("symbol", "timestamp", *names),
            family,
        )
    summary = result.summary
    yield dg.Output(
        result.predictions.with_columns(pl.lit(model_uri).alias("model_version")),
        metadata={
            "model_family": family,
            "model_ic": summary["ic"],
            "model_rank_ic": summary["rank_ic"],
            "icir": summary["icir"],
            "ic_tstat": summary["ic_tstat"],
            **report.metrics,
            "folds": len(result.folds),
            "model_version": model_uri,
            "mlflow_run_id": run.info.run_id,
            **mlflow_run_link(run.info.experiment_id, run.info.run_id),
            **frame_summary(result.predictions),
            "ic_over_time": figure_markdown(report.figures["ic_over_time.png"], "IC over time"),
            "equity_and_drawdown": figure_markdown(report.figures["equity.png"], "equity"),
        },
    )
    champion = mlflow.champion()
    decision = decide_promotion(
        result.predictions,
        mlflow.predictions_of(champion) if champion else None,
        features,
        training.promotion_margin,
        training.promotion_window_days,
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
