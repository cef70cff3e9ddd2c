"""Execution algorithms: how much of a parent order to send in each slot of its horizon.

Each algorithm decides one child at a time from a :class:`SliceContext`, which holds only what
is known before that slot trades (the volumes of earlier bars, what is still to do), so no child
can depend on later data. Every algorithm sends all that remains in the last slot (POV only if
``complete``), so completed schedules sum exactly to the parent quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class SliceContext:
    """What an algorithm may know when it sizes the child for ``slot`` (0-based)."""

    slot: int
    n_slots: int
    parent_qty: int
    remaining: int  # parent quantity neither filled nor in flight
    past_volume: np.ndarray  # volume of every bar before this slot, oldest first
    n_history: int  # how many of ``past_volume`` precede the parent's start

    @property
    def slots_left(self) -> int:
        return self.n_slots - self.slot

    @property
    def last(self) -> bool:
        return self.slot == self.n_slots - 1


class ExecutionAlgorithm(Protocol):
    name: str

    def child_qty(self, ctx: SliceContext) -> int:
        """Quantity to send in this slot, in ``[0, ctx.remaining]``."""
        ...


def _clip(qty: float, ctx: SliceContext) -> int:
    if ctx.last:
        return ctx.remaining
    return int(min(max(round(qty), 0), ctx.remaining))


@dataclass(frozen=True)
class TWAP:
    """Equal slices: what remains, spread evenly over the slots left."""

    name: str = "twap"

    def child_qty(self, ctx: SliceContext) -> int:
        return _clip(math.ceil(ctx.remaining / ctx.slots_left), ctx)


def volume_profile(history: np.ndarray, n_slots: int, lookback: int) -> np.ndarray:
    """Average share of volume by position in the last ``lookback`` windows of ``n_slots`` bars
    of ``history`` (uniform without a full window). With a horizon of one session of intraday
    bars this is the usual time-of-day profile."""
    n_windows = min(lookback, len(history) // n_slots)
    if n_windows == 0:
        return np.full(n_slots, 1.0 / n_slots)
    windows = np.asarray(history[len(history) - n_windows * n_slots :], dtype=float)
    windows = windows.reshape(n_windows, n_slots)
    totals = windows.sum(axis=1, keepdims=True)
    shares = np.divide(windows, totals, out=np.full_like(windows, 1.0 / n_slots), where=totals > 0)
    return shares.mean(axis=0)


@dataclass(frozen=True)
class VWAP:
    """Slices in proportion to the historical volume profile (estimated from bars before the
    parent's start), re-normalised over the slots left; ``profile`` overrides the estimate."""

    lookback: int = 20
    profile: tuple[float, ...] | None = None
    name: str = "vwap"

    def weights(self, ctx: SliceContext) -> np.ndarray:
        if self.profile is not None:
            if len(self.profile) != ctx.n_slots or min(self.profile) < 0:
                raise ValueError(
                    f"VWAP profile needs {ctx.n_slots} non-negative weights, got {self.profile}"
                )
            return np.asarray(self.profile, dtype=float)
        return volume_profile(ctx.past_volume[: ctx.n_history], ctx.n_slots, self.lookback)

    def child_qty(self, ctx: SliceContext) -> int:
        weights = self.weights(ctx)
        left = weights[ctx.slot :].sum()
        share = weights[ctx.slot] / left if left > 0 else 1.0 / ctx.slots_left
        return _clip(ctx.remaining * share, ctx)


@dataclass(frozen=True)
class POV:
    """Percentage of volume: ``rate`` times the volume of the last completed bar; the last slot
    sends what remains when ``complete`` (else it stays unfilled)."""

    rate: float = 0.1
    complete: bool = True
    name: str = "pov"

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1:
            raise ValueError(f"POV rate must be in (0, 1], got {self.rate}")

    def child_qty(self, ctx: SliceContext) -> int:
        if ctx.last and self.complete:
            return ctx.remaining
        observed = float(ctx.past_volume[-1]) if len(ctx.past_volume) else 0.0
        return int(min(math.floor(self.rate * observed), ctx.remaining))


def almgren_chriss_holdings(n_slots: int, urgency: float) -> np.ndarray:
    """Fraction of the parent still to trade after each slot ``0..n_slots`` (starts at 1, ends
    at 0): ``sinh(k (1 - j/N)) / sinh(k)`` with ``k = urgency``; ``urgency -> 0`` is TWAP."""
    if urgency < 0:
        raise ValueError(f"urgency must be non-negative, got {urgency}")
    j = np.arange(n_slots + 1) / n_slots
    if urgency < 1e-9:
        return 1.0 - j
    return np.sinh(urgency * (1.0 - j)) / np.sinh(urgency)


@dataclass(frozen=True)
class ImplementationShortfall:
    """Almgren-Chriss optimal schedule: front-loaded by ``urgency`` (kappa times the horizon).

    ``from_risk_aversion`` sets it from the model's terms: ``kappa = sqrt(lambda sigma^2 / eta)``.
    """

    urgency: float = 1.0
    name: str = "is"

    @classmethod
    def from_risk_aversion(
        cls, risk_aversion: float, sigma: float, eta: float, n_slots: int
    ) -> ImplementationShortfall:
        """``sigma``: volatility per slot; ``eta``: temporary impact per unit of trading rate."""
        return cls(urgency=math.sqrt(risk_aversion * sigma**2 / eta) * n_slots)

    def child_qty(self, ctx: SliceContext) -> int:
        holdings = almgren_chriss_holdings(ctx.n_slots, self.urgency)
        target_done = ctx.parent_qty * (1.0 - holdings[ctx.slot + 1])
        done = ctx.parent_qty - ctx.remaining
        return _clip(target_done - done, ctx)


ALGORITHMS = {"twap": TWAP, "vwap": VWAP, "pov": POV, "is": ImplementationShortfall}


def build_algorithm(
    name: str, *, vwap_lookback: int, pov_rate: float, urgency: float
) -> ExecutionAlgorithm:
    """The algorithm called ``name`` (a key of :data:`ALGORITHMS`) with its parameter."""
    if name == "vwap":
        return VWAP(lookback=vwap_lookback)
    if name == "pov":
        return POV(rate=pov_rate)
    if name == "is":
        return ImplementationShortfall(urgency=urgency)
    if name == "twap":
        return TWAP()
    raise ValueError(f"unknown algorithm {name!r}: use one of {sorted(ALGORITHMS)}")
