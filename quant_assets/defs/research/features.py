"""Factor sets and the forward-return label per (symbol, day)."""

import dagster as dg
import polars as pl
from pydantic import Field

from quant_assets.metadata import frame_summary
from quant_engine.features import (
    LABEL,
    FactorSetConfig,
    LabelConfig,
    add_forward_return_label,
    build_factor_sets,
    feature_names,
)


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
            **frame_summary(frame),
        },
    )
