"""A ridge-regression baseline: the bar any other family has to clear."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np

from quant_engine.models.base import Validation
from quant_engine.models.panel import Panel


@dataclass(frozen=True)
class RidgeConfig:
    alpha: float = 10.0  # L2 penalty on standardized features

    def __post_init__(self) -> None:
        if self.alpha < 0:
            raise ValueError("alpha must be non-negative")


class RidgeModel:
    """Linear model on features standardized with the training rows' mean and deviation."""

    def __init__(self, config: RidgeConfig | None = None) -> None:
        self.config = config or RidgeConfig()
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.coef: np.ndarray | None = None
        self.intercept = 0.0

    def _standardize(self, rows: np.ndarray) -> np.ndarray:
        return np.nan_to_num((rows - self.mean) / self.scale)

    def fit(
        self, panel: Panel, index: np.ndarray, target: np.ndarray, valid: Validation | None = None
    ) -> Self:
        self.mean, self.scale = panel.standardization(index)
        x = self._standardize(panel.rows(index).astype(float))
        self.intercept = float(target.mean())
        gram = x.T @ x + self.config.alpha * np.eye(x.shape[1])
        self.coef = np.linalg.solve(gram, x.T @ (target - self.intercept))
        return self

    def predict(self, panel: Panel, index: np.ndarray) -> np.ndarray:
        if self.coef is None:
            raise RuntimeError("RidgeModel.predict called before fit")
        return self._standardize(panel.rows(index).astype(float)) @ self.coef + self.intercept
