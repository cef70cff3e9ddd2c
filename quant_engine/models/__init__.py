"""Alpha models behind one fit/predict protocol, and walk-forward training."""

from quant_engine.models.base import AlphaModel
from quant_engine.models.lightgbm_model import LightGBMConfig, LightGBMModel
from quant_engine.models.linear import RidgeConfig, RidgeModel
from quant_engine.models.neural import NeuralConfig, NeuralModel
from quant_engine.models.panel import Panel
from quant_engine.models.walk_forward import (
    Fold,
    WalkForwardConfig,
    WalkForwardResult,
    run_walk_forward,
    walk_forward_folds,
)

__all__ = [
    "AlphaModel",
    "Fold",
    "LightGBMConfig",
    "LightGBMModel",
    "NeuralConfig",
    "NeuralModel",
    "Panel",
    "RidgeConfig",
    "RidgeModel",
    "WalkForwardConfig",
    "WalkForwardResult",
    "run_walk_forward",
    "walk_forward_folds",
]
