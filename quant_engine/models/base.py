"""The protocol every alpha model follows."""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import numpy as np

from quant_engine.models.panel import Panel

Validation = tuple[np.ndarray, np.ndarray]  # (row indices, targets) for early stopping


@runtime_checkable
class AlphaModel(Protocol):
    """Learns scores for panel rows; higher score means higher expected return."""

    def fit(
        self,
        panel: Panel,
        index: np.ndarray,
        target: np.ndarray,
        valid: Validation | None = None,
    ) -> Self:
        """Train on the rows ``index`` of ``panel``; ``valid`` may drive early stopping."""
        ...

    def predict(self, panel: Panel, index: np.ndarray) -> np.ndarray:
        """Score the rows ``index`` of ``panel``."""
        ...
