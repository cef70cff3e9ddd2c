"""The champion: which registered model scores the signals, decided by a stated test.

Every model asset registers its version as a challenger; this asset compares each version its
own run registered with the champion of the moment and moves the ``champion`` alias when the
challenger wins by :class:`~quant_engine.evaluation.promotion.PromotionRule`. ``signals``
reads the champion, so it sits downstream of this decision in the graph.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from quant_assets.metadata import mlflow_run_link, rounded
from quant_assets.resources import MlflowResource
from quant_engine.data.schema import KEYS
from quant_engine.evaluation.promotion import PromotionDecision, PromotionRule, decide_promotion
from quant_engine.features import LABEL, LABEL_HORIZON

PROMOTION = "champion_promotion"
MODEL_ASSETS = [
    "alpha_model",
    "alpha_ridge",
    "alpha_mlp",
    "alpha_lstm",
    "alpha_tcn",
    "alpha_transformer",
]


class ChampionConfig(dg.Config):
    alpha: float = 0.05  # level of the one-sided paired test on daily rank IC
    min_common_days: int = 63  # fewer common out-of-sample days: not compared


def _walk_forward(mlflow: MlflowResource, run_id: str) -> dict[str, str]:
    params = mlflow.client().get_run(run_id).data.params
    return {k: v for k, v in params.items() if k.startswith("walk_forward.")}


@dg.asset(
    group_name="research",
    kinds={"mlflow"},
    deps=MODEL_ASSETS,
    check_specs=[
        dg.AssetCheckSpec(
            PROMOTION,
            asset="champion",
            description=(
                "Whether the challengers of this run were compared with the champion on equal"
                " terms: at least `min_common_days` common out-of-sample days and the same"
                " walk-forward splits. Its metadata holds the decision, the stated rule, the"
                " p-value, the mean daily rank-IC difference and the number of days."
            ),
        )
    ],
)
def champion(
    context: dg.AssetExecutionContext,
    config: ChampionConfig,
    features: pl.DataFrame,
    mlflow: MlflowResource,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """The registered model that scores the signals, and the comparisons that chose it.

    Each version registered by this run (oldest first) faces the champion of the moment on
    every common out-of-sample day with a known label: it is promoted when its mean daily rank
    IC is higher and a one-sided paired t-test says so at level ``alpha``. One row per
    comparison.
    """
    horizon = int(features[LABEL_HORIZON].max())
    rule = PromotionRule(config.alpha, config.min_common_days, horizon)
    labels = features.select(*KEYS, LABEL)
    rows: list[dict] = []
    fair = True
    last: PromotionDecision | None = None
    for version in mlflow.versions_of_dagster_run(context.run.run_id):
        current = mlflow.champion()
        challenger = mlflow.predictions_of(version)
        decision = decide_promotion(
            challenger, mlflow.predictions_of(current) if current else None, labels, rule
        )
        same_splits = current is None or _walk_forward(mlflow, version.run_id) == _walk_forward(
            mlflow, current.run_id
        )
        fair = fair and decision.comparable and same_splits
        if decision.promote:
            mlflow.promote(version.version)
        reason = decision.reason + ("" if same_splits else "; the walk-forward splits differ")
        context.log.info(f"{mlflow.version_uri(version.version)}: {reason}")
        rows.append(
            {
                "challenger": mlflow.version_uri(version.version),
                "family": version.tags.get("family", ""),
                "previous_champion": mlflow.version_uri(current.version) if current else "none",
                "promoted": decision.promote,
                "mean_rank_ic_difference": decision.mean_difference,
                "p_value": decision.p_value,
                "n_days": decision.n_days,
                "same_walk_forward": same_splits,
                "reason": reason,
            }
        )
        last = decision
    final = mlflow.champion()
    if final is None:
        raise dg.Failure("no champion model is registered: materialize alpha_model first")
    uri = mlflow.version_uri(final.version)
    table = pl.DataFrame(
        rows,
        schema={
            "challenger": pl.String,
            "family": pl.String,
            "previous_champion": pl.String,
            "promoted": pl.Boolean,
            "mean_rank_ic_difference": pl.Float64,
            "p_value": pl.Float64,
            "n_days": pl.Int64,
            "same_walk_forward": pl.Boolean,
            "reason": pl.String,
        },
    )
    outcome = {
        "champion": uri,
        "champion_family": final.tags.get("family", ""),
        "rule": rule.statement,
        "promoted": bool(table["promoted"].any()) if rows else False,
        "reason": rows[-1]["reason"] if rows else "no model was trained in this run",
    }
    if last is not None:
        outcome.update(
            {
                "p_value": rounded(last.p_value),
                "mean_rank_ic_difference": rounded(last.mean_difference),
                "challenger_rank_ic": rounded(last.challenger_rank_ic),
                "champion_rank_ic": rounded(last.champion_rank_ic),
                "n_days": last.n_days,
            }
        )
    yield dg.Output(
        table,
        metadata={
            **{k: v for k, v in outcome.items() if v is not None},
            "comparisons": dg.MetadataValue.md(_markdown(table)) if rows else "none",
            **mlflow_run_link(mlflow.experiment_id(), final.run_id),
        },
    )
    yield dg.AssetCheckResult(
        check_name=PROMOTION,
        passed=fair,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={k: v for k, v in outcome.items() if v is not None},
    )


def _markdown(table: pl.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * table.width + "\n"
    body = "".join(
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |\n"
        for row in table.iter_rows()
    )
    return header + body
