"""Feature importance: gain for LightGBM, permutation for other families."""

import numpy as np
import polars as pl

from quant_engine.features import feature_columns
from quant_engine.models import LightGBMConfig, LightGBMModel, Panel, RidgeModel
from quant_engine.models.importance import feature_importance


def _planted(dataset: pl.DataFrame) -> pl.DataFrame:
    """The basic features plus one column that carries the label itself and one of noise."""
    known = dataset.drop_nulls("label")
    noise = np.random.default_rng(0).standard_normal(known.height)
    return known.with_columns(pl.col("label").alias("oracle"), pl.Series("noise", noise)).sort(
        "symbol", "timestamp"
    )


def _fit(model, frame: pl.DataFrame, names: list[str]):
    panel = Panel.from_frame(frame, names)
    rows = np.arange(frame.height)
    return model.fit(panel, rows, frame["label"].to_numpy())


def test_lightgbm_reports_split_gain_and_ridge_permutation(dataset):
    frame = _planted(dataset)
    names = [*feature_columns(), "oracle", "noise"]
    train = frame.filter(pl.col("timestamp") < frame["timestamp"].unique().sort()[400])
    test_rows = np.flatnonzero(frame["timestamp"] >= frame["timestamp"].unique().sort()[400])
    for model, kind in (
        (LightGBMModel(LightGBMConfig(n_estimators=30)), "gain"),
        (RidgeModel(), "permutation"),
    ):
        fitted = _fit(model, train, names)
        table = feature_importance(fitted, frame, names, test_rows)
        assert table["kind"].unique().to_list() == [kind]
        assert sorted(table["feature"]) == sorted(names)
        assert table["feature"][0] == "oracle", (kind, table.head(3))
        noise = table.filter(pl.col("feature") == "noise")["importance"][0]
        assert noise < table["importance"][0] / 10
    assert (
        abs(
            feature_importance(
                _fit(LightGBMModel(LightGBMConfig(n_estimators=30)), train, names),
                frame,
                names,
                test_rows,
            )["importance"].sum()
            - 1
        )
        < 1e-9
    )
