"""Capital policies: how much of the book each target weight receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class CapitalPolicy(Protocol):
    """Rescales the decision core's target weights with risk known at the decision."""

    needs_risk: bool

    def scale(self, weights: np.ndarray, sigma: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class FullCapital:
    """The weights as the decision core sized them."""

    needs_risk: bool = False

    def scale(self, weights: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        return weights


@dataclass(frozen=True)
class VolatilityScaled:
    """Each weight times ``target_vol / sigma`` (daily vols), so names carry equal risk.

    Names without a known volatility get no capital; ``max_scale`` bounds the leverage one
    quiet name can take.
    """

    target_vol: float = 0.01
    max_scale: float = 2.0
    needs_risk: bool = True

    def __post_init__(self) -> None:
        if not (0 < self.target_vol < float("inf") and 0 < self.max_scale < float("inf")):
            raise ValueError("target_vol and max_scale must be positive")

    def scale(self, weights: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        known = np.isfinite(sigma) & (sigma > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(known, np.minimum(self.target_vol / sigma, self.max_scale), 0.0)
        return weights * factor


def capital_policy(name: str, **params: float) -> CapitalPolicy:
    """A policy by its config name: ``full`` or ``volatility_scaled``."""
    policies = {"full": FullCapital, "volatility_scaled": VolatilityScaled}
    if name not in policies:
        raise ValueError(f"unknown capital policy {name!r}: use one of {sorted(policies)}")
    return policies[name](**params)
