"""Gradient-boosted trees (LightGBM) as an alpha model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Self

import lightgbm as lgb
import numpy as np

from quant_engine.models.base import Validation
from quant_engine.models.panel import Panel


@dataclass(frozen=True)
class LightGBMConfig:
    """LightGBM hyper-parameters; ``deterministic`` training for a fixed seed."""

    n_estimators: int = 150
    early_stopping_rounds: int = 20  # used when a validation slice is given
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    seed: int = 0
    num_threads: int = 2

    def params(self) -> dict[str, Any]:
        """LightGBM's own parameter dictionary."""
        params = asdict(self)
        params.pop("n_estimators")
        params.pop("early_stopping_rounds")
        return {
            **params,
            "objective": "regression",
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


class LightGBMModel:
    """A LightGBM regressor following the :class:`AlphaModel` protocol."""

    def __init__(self, config: LightGBMConfig | None = None) -> None:
        self.config = config or LightGBMConfig()
        self.booster: lgb.Booster | None = None

    def fit(
        self,
        panel: Panel,
        index: np.ndarray,
        target: np.ndarray,
        valid: Validation | None = None,
    ) -> Self:
        data = lgb.Dataset(panel.rows(index), label=target, feature_name=panel.names)
        sets, callbacks = [], []
        if valid is not None:
            sets = [lgb.Dataset(panel.rows(valid[0]), label=valid[1], reference=data)]
            callbacks = [lgb.early_stopping(self.config.early_stopping_rounds, verbose=False)]
        self.booster = lgb.train(
            self.config.params(),
            data,
            num_boost_round=self.config.n_estimators,
            valid_sets=sets,
            callbacks=callbacks,
        )
        return self

    def predict(self, panel: Panel, index: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("LightGBMModel.predict called before fit")
        # The booster predicts with its best iteration when early stopping found one.
        return np.asarray(self.booster.predict(panel.rows(index)), dtype=float)
