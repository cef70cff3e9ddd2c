"""Features and labels computed from bars without lookahead."""

from quant_engine.features.alpha158 import Alpha158Config, alpha158_columns, build_alpha158
from quant_engine.features.labels import LABEL, LABEL_HORIZON, LabelConfig, add_forward_return_label
from quant_engine.features.library import FeatureConfig, build_features, feature_columns
from quant_engine.features.normalize import cross_sectional
from quant_engine.features.raw_window import RAW_WINDOW_DAYS, build_raw_window
from quant_engine.features.sets import (
    FACTOR_SETS,
    FactorSetConfig,
    build_factor_sets,
    feature_names,
)

__all__ = [
    "FACTOR_SETS",
    "LABEL",
    "LABEL_HORIZON",
    "RAW_WINDOW_DAYS",
    "Alpha158Config",
    "FactorSetConfig",
    "FeatureConfig",
    "LabelConfig",
    "add_forward_return_label",
    "alpha158_columns",
    "build_alpha158",
    "build_factor_sets",
    "build_features",
    "build_raw_window",
    "cross_sectional",
    "feature_columns",
    "feature_names",
]
