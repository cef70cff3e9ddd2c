"""Features and labels computed from bars without lookahead."""

from quant_engine.features.labels import LABEL, LABEL_HORIZON, LabelConfig, add_forward_return_label
from quant_engine.features.library import FeatureConfig, build_features, feature_columns

__all__ = [
    "LABEL",
    "LABEL_HORIZON",
    "FeatureConfig",
    "LabelConfig",
    "add_forward_return_label",
    "build_features",
    "feature_columns",
]
