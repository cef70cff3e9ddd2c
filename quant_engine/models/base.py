"""The protocol every alpha model follows."""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import numpy as np


@runtime_checkable
class AlphaModel(Protocol):
    """Learns scores from a feature matrix; higher score means higher expected return."""

    def fit(self, features: np.ndarray, target: np.ndarray) -> Self:
        """Train on rows of ``features`` (NaN allowed where the model supports it)."""
        ...

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Score each row of ``features``."""
        ...
