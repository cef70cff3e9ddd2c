"""Signal aggregation: combine several signal sources into one signal per row.

A signal is a signed strength in [-1, 1]: its sign is the call (+ long, - short), its magnitude
the conviction or probability, 0 (or null/NaN) is no call. Voters combine a ``(sources, rows)``
array column-wise; :meth:`combine_columns` does the same on columns of a polars frame.
Meta-labeling gates a primary signal with a secondary model's probability that it is right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl


def _votes(votes: np.ndarray) -> np.ndarray:
    array = np.asarray(votes, dtype=float)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"votes must be a (sources, rows) array, got shape {array.shape}")
    array = np.nan_to_num(array, nan=0.0)
    if np.any(np.abs(array) > 1):
        raise ValueError("signals must lie in [-1, 1]")
    return array


class SignalVoter(Protocol):
    """Combines a ``(sources, rows)`` array of signals into one signal per row."""

    def combine(self, votes: np.ndarray) -> np.ndarray: ...


class _ColumnVoter:
    def combine(self, votes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def combine_columns(
        self, frame: pl.DataFrame, columns: Sequence[str], output: str = "signal"
    ) -> pl.DataFrame:
        """``frame`` with ``output`` set to the combination of the signal ``columns``."""
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"signal frame lacks column(s) {missing}")
        votes = np.vstack([frame[c].cast(pl.Float64).to_numpy() for c in columns])
        return frame.with_columns(pl.Series(output, self.combine(votes)))


def _mean_magnitude(votes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    count = mask.sum(axis=0)
    total = np.where(mask, np.abs(votes), 0.0).sum(axis=0)
    return np.divide(total, count, out=np.zeros(votes.shape[1]), where=count > 0)


@dataclass(frozen=True)
class MajorityVote(_ColumnVoter):
    """The side called by strictly more than ``min_agreement`` of all sources wins (and by
    more sources than the other side); its strength is the mean of the agreeing strengths."""

    min_agreement: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.min_agreement < 1:
            raise ValueError(f"MajorityVote: min_agreement {self.min_agreement} not in [0, 1)")

    def combine(self, votes: np.ndarray) -> np.ndarray:
        votes = _votes(votes)
        n = votes.shape[0]
        longs, shorts = votes > 0, votes < 0
        n_long, n_short = longs.sum(axis=0), shorts.sum(axis=0)
        out = np.zeros(votes.shape[1])
        win_long = (n_long / n > self.min_agreement) & (n_long > n_short)
        win_short = (n_short / n > self.min_agreement) & (n_short > n_long)
        out[win_long] = _mean_magnitude(votes, longs)[win_long]
        out[win_short] = -_mean_magnitude(votes, shorts)[win_short]
        return out


@dataclass(frozen=True)
class WeightedVote(_ColumnVoter):
    """Weighted mean of the signals, kept where its magnitude reaches ``threshold``."""

    weights: tuple[float, ...]
    threshold: float = 0.0

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        if w.size == 0 or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"WeightedVote: weights {self.weights} must be >= 0, not all zero")

    def combine(self, votes: np.ndarray) -> np.ndarray:
        votes = _votes(votes)
        if votes.shape[0] != len(self.weights):
            raise ValueError(f"WeightedVote has {len(self.weights)} weights for {votes.shape[0]}")
        w = np.asarray(self.weights, dtype=float)
        mean = w @ votes / w.sum()
        return np.where(np.abs(mean) >= self.threshold, mean, 0.0)


@dataclass(frozen=True)
class UnanimousVote(_ColumnVoter):
    """A call only when every source makes the same call; strength is their mean, kept when
    it reaches ``threshold``."""

    threshold: float = 0.0

    def combine(self, votes: np.ndarray) -> np.ndarray:
        votes = _votes(votes)
        all_long, all_short = (votes > 0).all(axis=0), (votes < 0).all(axis=0)
        mean = votes.mean(axis=0)
        agreed = (all_long | all_short) & (np.abs(mean) >= self.threshold)
        return np.where(agreed, mean, 0.0)


@dataclass(frozen=True)
class AnyVote(_ColumnVoter):
    """Any call passes: the strongest signal wins; equally strong opposite calls cancel."""

    def combine(self, votes: np.ndarray) -> np.ndarray:
        votes = _votes(votes)
        strongest = np.abs(votes).max(axis=0)
        at_max = np.abs(votes) == strongest
        long_max = (at_max & (votes > 0)).any(axis=0)
        short_max = (at_max & (votes < 0)).any(axis=0)
        return np.where(long_max & ~short_max, strongest, 0.0) - np.where(
            short_max & ~long_max, strongest, 0.0
        )


@dataclass(frozen=True)
class MetaLabeler:
    """Meta-labeling: keep the primary signal's direction only where a secondary model's
    probability that the call is right reaches ``threshold``; the output is
    ``sign(primary) * probability`` there, 0 elsewhere.

    The probability comes from ``model(frame)`` when a callable is given (it returns one
    probability per row), else from the frame's ``probability_column``.
    """

    threshold: float = 0.5
    probability_column: str = "meta_probability"
    model: Callable[[pl.DataFrame], np.ndarray] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"MetaLabeler: threshold {self.threshold} not in [0, 1]")

    def gate(self, primary: np.ndarray, probability: np.ndarray) -> np.ndarray:
        """``sign(primary) * probability`` where ``probability >= threshold``, else 0."""
        call = np.sign(np.nan_to_num(np.asarray(primary, dtype=float), nan=0.0))
        prob = np.asarray(probability, dtype=float)
        if prob.shape != call.shape:
            raise ValueError(f"meta probabilities {prob.shape} do not match signals {call.shape}")
        valid = np.isfinite(prob)
        if np.any((prob[valid] < 0) | (prob[valid] > 1)):
            raise ValueError("meta probabilities must lie in [0, 1]")
        keep = valid & (np.nan_to_num(prob, nan=0.0) >= self.threshold)
        return np.where(keep, call * np.nan_to_num(prob, nan=0.0), 0.0)

    def apply(
        self, frame: pl.DataFrame, signal_column: str = "signal", output: str = "signal"
    ) -> pl.DataFrame:
        """``frame`` with ``output`` holding the gated primary signal."""
        if signal_column not in frame.columns:
            raise ValueError(f"signal frame lacks column {signal_column!r}")
        if self.model is not None:
            probability = np.asarray(self.model(frame), dtype=float)
        elif self.probability_column in frame.columns:
            probability = frame[self.probability_column].cast(pl.Float64).to_numpy()
        else:
            raise ValueError(f"signal frame lacks column {self.probability_column!r}")
        primary = frame[signal_column].cast(pl.Float64).to_numpy()
        return frame.with_columns(pl.Series(output, self.gate(primary, probability)))
