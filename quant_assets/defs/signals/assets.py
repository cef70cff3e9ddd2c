"""Daily scores per symbol from the champion model, written as signal files."""

import dagster as dg
import polars as pl

from quant_assets.metadata import column_schema, frame_summary, mlflow_run_link
from quant_assets.resources import MlflowResource
from quant_engine.data.store import DayFrameStore, bar_day
from quant_engine.features import feature_names
from quant_engine.paths import QuantHome
from quant_engine.signals import extend_signal_files, read_signal_file, write_signal_files

# Stored feature days read before the first new day, per row of history a score reads (a
# stored day holds at most one session per symbol: holidays are stored empty).
HISTORY_DAYS_PER_ROW = 2


class SignalsConfig(dg.Config):
    full_rebuild: bool = False  # rescore every day, not only the days after the stored signals


def _stored_signals(uri: str, features: DayFrameStore) -> tuple[pl.DataFrame | None, str]:
    """The signal file this asset wrote last, when the champion ``uri`` made every row of it
    and its days are still feature days; else None, and why."""
    path = QuantHome.resolve().signals / "signals.parquet"
    if not path.is_file():
        return None, "no signal file yet"
    stored = read_signal_file(path)
    if stored.height == 0 or (stored["model_version"] != uri).any():
        return None, f"the stored signals are not all from {uri}"
    days = features.days()
    if not days or stored.select(bar_day().max()).item() > days[-1]:
        return None, "the stored signals run past the features"
    return stored, "extending the stored signals"


@dg.asset(group_name="signals", kinds={"polars", "parquet", "csv"}, deps=["champion"])
def signals(
    context: dg.AssetExecutionContext,
    config: SignalsConfig,
    features: DayFrameStore,
    mlflow: MlflowResource,
) -> dg.Output[pl.DataFrame]:
    """The champion's out-of-sample scores, extended to newer days by the champion itself.

    Scores come from ``models:/<name>@champion`` (chosen by the ``champion`` asset upstream):
    its walk-forward predictions, and for days after them (the daily job runs without
    retraining) the registered model's own scores. A run scores only the feature days after
    the stored signal file (reading the model's history rows before them) while the champion
    that wrote it is still the champion; ``full_rebuild`` (or a new champion) starts again from
    the walk-forward predictions, giving the same scores.
    """
    champion = mlflow.champion()
    if champion is None:
        raise dg.Failure("no champion model is registered: materialize alpha_model first")
    uri = mlflow.version_uri(champion.version)
    stored, reason = None, "full_rebuild is set"
    if not config.full_rebuild:
        stored, reason = _stored_signals(uri, features)
    if stored is None:
        context.log.info(f"signals from the walk-forward predictions of {uri} ({reason})")
        scored = mlflow.predictions_of(champion).select(
            "timestamp", "symbol", "score", pl.lit(uri).alias("model_version")
        )
    else:
        scored = stored
    last = scored["timestamp"].max()
    days = features.days()
    new_days = [day for day in days if day > last.date()]
    newer = scored.clear()
    if new_days:
        model = mlflow.load_model(uri)
        earlier = [day for day in days if day < new_days[0]]
        back = HISTORY_DAYS_PER_ROW * model.history_rows
        start = earlier[-back] if back <= len(earlier) else None
        window = features.read(start)
        names = feature_names(window)
        window = window.select("symbol", "timestamp", *names)
        all_scores = window.with_columns(pl.Series("score", model.score(window)))
        newer = all_scores.filter(pl.col("timestamp") > last).select(
            "timestamp", "symbol", "score", pl.lit(uri).alias("model_version")
        )
        context.log.info(f"scoring {newer['timestamp'].n_unique()} new day(s) with {uri}")
    directory = QuantHome.resolve().signals
    if stored is None:
        scored = pl.concat([scored, newer]).sort("timestamp", "symbol")
        parquet, csv = write_signal_files(scored, directory)
    else:  # the new days are appended: the stored rows are not sorted or formatted again
        parquet, csv, scored = extend_signal_files(stored, newer, directory)
    return dg.Output(
        scored,
        metadata={
            "signal_file": dg.MetadataValue.path(str(parquet)),
            "signal_csv": dg.MetadataValue.path(str(csv)),
            "model_version": uri,
            "new_days_scored": len(new_days),
            "rebuild_reason": reason,
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
