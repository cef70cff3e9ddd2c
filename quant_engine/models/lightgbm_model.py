"""Gradient-boosted trees (LightGBM) as an alpha model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Self

import lightgbm as lgb
import numpy as np


@dataclass(frozen=True)
class LightGBMConfig:
    """LightGBM hyper-parameters; ``deterministic`` training for a fixed seed."""

    n_estimators: int = 150
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
        return {
            **params,
            "objective": "regression",
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


class LightGBMModel:
    """A LightGBM regressor following the :class:`AlphaModel` protocol."""

    def __init__(
        self, config: LightGBMConfig | None = None, feature_names: list[str] | None = None
    ) -> None:
        self.config = config or LightGBMConfig()
        self.feature_names = feature_names
        self.booster: lgb.Booster | None = None

    def fit(self, features: np.ndarray, target: np.ndarray) -> Self:
        names = self.feature_names or "auto"
        data = lgb.Dataset(features, label=target, feature_name=names, free_raw_data=True)
        self.booster = lgb.train(
            self.config.params(), data, num_boost_round=self.config.n_estimators
        )
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("LightGBMModel.predict called before fit")
        return np.asarray(self.booster.predict(features), dtype=float)
