"""Alpha models behind one fit/predict protocol, and walk-forward training.

The names below are imported on first use, so that importing one model family does not import
the others' libraries (LightGBM, PyTorch).
"""

from importlib import import_module
from typing import TYPE_CHECKING

_WHERE = {
    "AlphaModel": "base",
    "LightGBMConfig": "lightgbm_model",
    "LightGBMModel": "lightgbm_model",
    "RidgeConfig": "linear",
    "RidgeModel": "linear",
    "NeuralConfig": "neural",
    "NeuralModel": "neural",
    "Panel": "panel",
    "Fold": "walk_forward",
    "WalkForwardConfig": "walk_forward",
    "WalkForwardResult": "walk_forward",
    "run_walk_forward": "walk_forward",
    "walk_forward_folds": "walk_forward",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_WHERE[name]}"), name)


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
