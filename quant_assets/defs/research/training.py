"""What every model-family asset does: walk-forward training tracked in MLflow as it goes,
registration as the challenger, and the blocking leakage probe that stops its promotion."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields, replace
from typing import TYPE_CHECKING, Any

import dagster as dg
import numpy as np
import polars as pl

from quant_assets.metadata import (
    display_metrics,
    figure_markdown,
    frame_summary,
    mlflow_run_link,
    rounded,
)
from quant_assets.resources import MlflowResource
from quant_engine.data.store import DayFrameStore
from quant_engine.evaluation.leakage import shifted_label_probe
from quant_engine.evaluation.performance import TRADING_DAYS
from quant_engine.evaluation.sharpe import deflated_sharpe_ratio
from quant_engine.features import LABEL, LABEL_HORIZON, feature_names
from quant_engine.models.base import AlphaModel
from quant_engine.models.importance import feature_importance
from quant_engine.models.panel import Panel
from quant_engine.models.walk_forward import (
    FoldResult,
    WalkForwardConfig,
    WalkForwardResult,
    run_walk_forward,
    walk_forward_folds,
)

if TYPE_CHECKING:
    from quant_engine.evaluation.report import EvaluationReport

LEAKAGE_PROBE = "shifted_label_probe"
READ_DAYS = 64  # stored feature days read at once while assembling the training panel


class TrainingConfig(dg.Config):
    """Walk-forward splits and the leakage probe, the same for every family by default."""

    window: str = "expanding"
    train_days: int = 756
    min_train_days: int = 504
    retrain_every: int = 63
    embargo_days: int = 1  # must be at least the label horizon of the features
    valid_days: int = 0  # > 0: early stopping on the last days of each training window
    probe_z: float = 3.0  # standard errors by which a further-future label may not win
    # The probe retrains the true and the shifted label at least this seldom (fewer folds).
    probe_retrain_every: int = 252

    def walk_forward(self) -> WalkForwardConfig:
        return engine_config(WalkForwardConfig, self)


def engine_config(kind: type, config: dg.Config, **extra: Any) -> Any:
    """Build the engine's frozen config ``kind`` from the same-named fields of ``config``."""
    values = config.model_dump()
    names = {field.name for field in fields(kind)}
    return kind(**{k: v for k, v in values.items() if k in names}, **extra)


def config_hash(params: dict[str, Any]) -> str:
    """A digest of everything that decides a training run's result (family, splits, model,
    data): reruns of the same configuration share it."""
    text = json.dumps({k: str(v) for k, v in sorted(params.items())})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def deflated_sharpe(
    mlflow: MlflowResource, report: EvaluationReport, digest: str
) -> dict[str, float]:
    """The long/short deflated Sharpe ratio, each distinct earlier configuration a trial.

    A rerun of a configuration already tried replaces its earlier result instead of counting
    as one more trial.
    """
    trials = mlflow.metric_by_config("long_short.sharpe")
    trials[digest] = report.metrics["long_short.sharpe"]
    per_period = [s / TRADING_DAYS**0.5 for s in trials.values()]
    returns = report.daily_returns["long_short"]["net_return"].to_numpy()
    dsr = deflated_sharpe_ratio(returns, len(trials), per_period if len(trials) > 2 else None)
    return {"long_short.deflated_sharpe": dsr, "n_trials": float(len(trials))}


def training_panel(features: pl.DataFrame | DayFrameStore) -> tuple[pl.DataFrame, Panel]:
    """The feature frame sorted by (symbol, timestamp) and its float32 panel.

    From a store, the panel is assembled ``READ_DAYS`` days at a time and the frame's feature
    columns are views of it, so the features are held once; a frame is sorted (when it is not)
    and copied into the panel.
    """
    if isinstance(features, DayFrameStore):
        parts = features.scan_parts(READ_DAYS)
        if not parts:
            raise ValueError(f"{features.root}: no feature days stored")
        names = feature_names(pl.DataFrame(schema=parts[0].collect_schema()))
        return Panel.read(parts, names)
    return Panel.sorted_from_frame(features, feature_names(features))


def _importance(result: WalkForwardResult, features: pl.DataFrame, names: list[str]):
    """Feature importance of the final model on the last test block (its out-of-sample days);
    ``features`` sorted by (symbol, timestamp)."""
    last = result.folds[-1].fold
    rows = features.select(
        pl.col("timestamp").is_between(last.test_start, last.test_end) & pl.col(LABEL).is_not_null()
    )
    return feature_importance(
        result.final_model, features, names, np.flatnonzero(rows.to_series().to_numpy())
    )


def _top_features(importance: pl.DataFrame, top: int = 20) -> str:
    kind = importance["kind"][0]
    lines = [f"| feature | importance ({kind}) |", "|---|---|"]
    lines += [
        f"| {f} | {v:.4g} |"
        for f, v in importance.head(top).select("feature", "importance").iter_rows()
    ]
    return "\n".join(lines)


def probe_check(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        LEAKAGE_PROBE,
        asset=asset,
        blocking=True,
        description=(
            "Trains the same model walk-forward on the true label and on the label shifted one"
            " day further into the future (retraining every `probe_retrain_every` days, at"
            " least). Honest features predict the shifted label worse; the check fails (and the"
            " model is not promoted) when its daily IC beats the true one by more than"
            " `probe_z` standard errors."
        ),
    )


def train_and_register(
    context: dg.AssetExecutionContext,
    family: str,
    model_factory: Callable[[], AlphaModel],
    model_config: Any,
    training: TrainingConfig,
    features: pl.DataFrame | DayFrameStore,
    raw_bars: pl.DataFrame,
    mlflow: MlflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Train ``family`` walk-forward, track and register it, then probe it for leakage.

    One panel of the features (see :func:`training_panel`) serves the walk-forward and the
    probe.

    The MLflow run opens before the first fold: fold metrics appear as folds finish. Every
    family logs the same params (common ones first) and metric names, so comparing them in
    MLflow is a matter of selecting runs.
    """
    # Plotting, the evaluation's backtests and MLflow's model format: imported by training only.
    from quant_engine.evaluation.figures import importance_bars
    from quant_engine.evaluation.report import evaluate_predictions, lineage
    from quant_engine.models.packaging import AlphaPyfunc

    walk = training.walk_forward()
    features, panel = training_panel(features)
    names = panel.names
    horizon = int(features[LABEL_HORIZON].max())
    # Splits that cannot work fail here, before the run leaves traces in MLflow.
    walk_forward_folds(features["timestamp"].unique().sort().to_list(), walk, horizon)
    params = {
        "model_family": family,
        **{f"walk_forward.{k}": v for k, v in asdict(walk).items()},
        **lineage(features, names),
        "probe_z": training.probe_z,
        "probe_retrain_every": training.probe_retrain_every,
    }
    model_params = {f"model.{k}": v for k, v in asdict(model_config).items()}
    digest = config_hash({**params, **model_params})
    with mlflow.start_run(context, run_name=f"{family}-walk-forward") as run:
        mlflow.log_params({**params, "config_hash": digest, **model_params})
        mlflow.log_training_data(features, names)

        def on_fold(fold: FoldResult, n_folds: int) -> None:
            context.log.info(
                f"{family} fold {fold.fold.index + 1}/{n_folds}: test "
                f"{fold.fold.test_start:%Y-%m-%d}..{fold.fold.test_end:%Y-%m-%d} "
                f"IC={fold.ic:.4f} rank IC={fold.rank_ic:.4f}"
            )
            with mlflow.start_run(context, run_name=f"fold-{fold.fold.index}", nested=True):
                mlflow.log_params({k: str(v) for k, v in asdict(fold.fold).items()})
                mlflow.log_metrics(
                    {"ic": fold.ic, "rank_ic": fold.rank_ic, "n_train": fold.n_train}
                )
            mlflow.log_metrics({"fold_ic": fold.ic, "fold_rank_ic": fold.rank_ic}, fold.fold.index)

        result = run_walk_forward(features, names, model_factory, walk, horizon, on_fold, panel)
        report = evaluate_predictions(result, features, raw_bars)
        importance = _importance(result, features, names)
        mlflow.log_table(importance, "feature_importance.json")
        mlflow.log_figure(importance_bars(importance), "feature_importance.png")
        report.metrics.update(deflated_sharpe(mlflow, report, digest))
        mlflow.log_metrics({**result.summary, **report.metrics})
        for name, figure in report.figures.items():
            mlflow.log_figure(figure, name)
        mlflow.log_predictions(result.predictions)
        # Enough history of one symbol for sequence models to fill their windows.
        example = features.filter(pl.col("symbol") == features["symbol"][0]).tail(64)
        summary = result.summary
        model_uri = mlflow.log_alpha_model(
            AlphaPyfunc(result.final_model, names),
            example.select("symbol", "timestamp", *names),
            family,
            dagster_run_id=context.run.run_id,
            description=(
                f"{family} trained walk-forward ({len(result.folds)} folds, retrain every "
                f"{walk.retrain_every} days) on {len(names)} features, "
                f"{features['timestamp'].min():%Y-%m-%d}..{features['timestamp'].max():%Y-%m-%d};"
                f" out-of-sample rank IC {summary['rank_ic']:.4f}, long/short Sharpe "
                f"{report.metrics['long_short.sharpe']:.2f}. Dagster run {context.run.run_id}."
            ),
        )
    yield dg.Output(
        result.predictions.with_columns(pl.lit(model_uri).alias("model_version")),
        metadata={
            "model_family": family,
            **display_metrics(
                {
                    "model_ic": summary["ic"],
                    "model_rank_ic": summary["rank_ic"],
                    "icir": summary["icir"],
                    "ic_tstat": summary["ic_tstat"],
                    **report.metrics,
                }
            ),
            "folds": len(result.folds),
            "model_version": model_uri,
            "mlflow_run_id": run.info.run_id,
            **mlflow_run_link(run.info.experiment_id, run.info.run_id),
            **frame_summary(result.predictions),
            "feature_importance": dg.MetadataValue.md(_top_features(importance)),
            "ic_over_time": figure_markdown(report.figures["ic_over_time.png"], "IC over time"),
            "equity_and_drawdown": figure_markdown(report.figures["equity.png"], "equity"),
        },
    )
    context.log.info(f"{family}: shifted-label leakage probe (one more walk-forward)")
    probe_walk = replace(walk, retrain_every=max(walk.retrain_every, training.probe_retrain_every))
    probe = shifted_label_probe(
        features,
        names,
        model_factory,
        probe_walk,
        training.probe_z,
        horizon,
        result.daily if probe_walk == walk else None,
        panel,
    )
    mlflow.tag_version(model_uri, "leakage_probe", "leak" if probe["leak"] else "passed")
    yield dg.AssetCheckResult(
        check_name=LEAKAGE_PROBE,
        passed=not probe["leak"],
        metadata={
            "ic_true_label": rounded(probe["ic_true"]),
            "ic_shifted_label": rounded(probe["ic_shifted"]),
            "standard_error": rounded(probe["se"]),
            "n_days": int(probe["n_days"]),
            "z": training.probe_z,
            "retrain_every": probe_walk.retrain_every,
            "model_version": model_uri,
        },
        description=(
            "the model learns a further-future label better than the real one: leakage"
            if probe["leak"]
            else "the further-future label is not learned better than the real one"
        ),
    )
