"""The leakage checks pass honest features and models, and catch deliberate lookahead."""

import polars as pl
import pytest

from quant_engine.evaluation.leakage import features_reading_the_future, shifted_label_probe
from quant_engine.features import (
    FactorSetConfig,
    build_factor_sets,
    build_features,
    build_raw_window,
    feature_columns,
)
from quant_engine.features.alpha158 import Alpha158Config, build_alpha158
from tests.quant_engine.models.test_families import FAMILIES, SPLITS


def _with_peek(bars: pl.DataFrame) -> pl.DataFrame:
    """The basic features plus one that reads tomorrow's close."""
    peek = (pl.col("close").shift(-1) / pl.col("close")).over("symbol").alias("peek")
    return build_features(bars).join(
        bars.sort("symbol", "timestamp").select("symbol", "timestamp", peek),
        on=["symbol", "timestamp"],
        maintain_order="left",
    )


def test_the_feature_libraries_read_no_future(small_market):
    bars = small_market.bars
    assert features_reading_the_future(build_features, bars) == []
    assert features_reading_the_future(build_raw_window, bars) == []
    assert (
        features_reading_the_future(lambda b: build_alpha158(b, Alpha158Config((5, 20))), bars)
        == []
    )
    normalized = FactorSetConfig(normalize="zscore")
    assert features_reading_the_future(lambda b: build_factor_sets(b, normalized), bars) == []


def test_a_deliberate_lookahead_feature_is_caught(small_market):
    assert features_reading_the_future(_with_peek, small_market.bars) == ["peek"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_no_family_learns_more_from_a_further_future(dataset, family):
    probe = shifted_label_probe(dataset, feature_columns(), FAMILIES[family], SPLITS)
    assert not probe["leak"], probe
    assert probe["ic_true"] > probe["ic_shifted"]


def test_the_probe_flags_features_that_know_the_day_after(dataset):
    # A feature holding the return the shifted label measures: only a leak could supply it.
    leaky = dataset.sort("symbol", "timestamp").with_columns(
        pl.col("label").shift(-1).over("symbol").alias("peek")
    )
    probe = shifted_label_probe(leaky, [*feature_columns(), "peek"], FAMILIES["lightgbm"], SPLITS)
    assert probe["leak"], probe
