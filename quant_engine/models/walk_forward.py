"""Walk-forward training: only out-of-sample predictions leave this stage.

Dates are split into consecutive test blocks of ``retrain_every`` days. Each block gets a model
trained on an expanding (or rolling) window that ends ``embargo_days`` before the block starts,
so no training label overlaps the block: the label of day ``s`` is known at the open of
``s + 1 + horizon``, and ``embargo_days >= horizon`` keeps that at or before the block's first day.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import polars as pl

from quant_engine.evaluation.ic import daily_ic, ic_summary
from quant_engine.features.labels import LABEL
from quant_engine.models.base import AlphaModel


@dataclass(frozen=True)
class WalkForwardConfig:
    """How the timeline is cut into train and test blocks (all lengths in trading days)."""

    window: Literal["expanding", "rolling"] = "expanding"
    train_days: int = 756  # length of a rolling window
    min_train_days: int = 504  # history before the first test block
    retrain_every: int = 63
    embargo_days: int = 1
    target: Literal["rank", "raw"] = "rank"  # train on per-day label ranks or raw returns

    def __post_init__(self) -> None:
        if self.window not in ("expanding", "rolling") or self.target not in ("rank", "raw"):
            raise ValueError(f"unknown window {self.window!r} or target {self.target!r}")
        if min(self.train_days, self.min_train_days, self.retrain_every) < 1:
            raise ValueError("train_days, min_train_days and retrain_every must be positive")
        if self.embargo_days < 0:
            raise ValueError("embargo_days must be non-negative")


@dataclass(frozen=True)
class Fold:
    """One train/test split, as inclusive timestamp ranges."""

    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    n_train: int
    n_test: int
    ic: float
    rank_ic: float


@dataclass(frozen=True)
class WalkForwardResult:
    """Stitched out-of-sample predictions, per-fold results and the latest model."""

    predictions: pl.DataFrame  # symbol, timestamp, score, fold
    folds: list[FoldResult]
    daily: pl.DataFrame  # per-day IC of the out-of-sample predictions
    summary: dict[str, float]  # ic, rank_ic, icir, rank_icir, ic_tstat, n_days
    final_model: AlphaModel


def walk_forward_folds(
    dates: Sequence[datetime], config: WalkForwardConfig, horizon: int = 1
) -> list[Fold]:
    """Cut sorted unique ``dates`` into folds; the last block always reaches the last date."""
    if config.embargo_days < horizon:
        raise ValueError(
            f"embargo_days={config.embargo_days} is shorter than the label horizon {horizon}:"
            " training labels would overlap the test block"
        )
    n = len(dates)
    first_test = config.min_train_days + config.embargo_days
    if first_test >= n:
        raise ValueError(
            f"{n} dates leave no test block after {config.min_train_days} training days"
            f" and an embargo of {config.embargo_days}"
        )
    folds = []
    for index, start in enumerate(range(first_test, n, config.retrain_every)):
        train_end = start - 1 - config.embargo_days
        train_start = (
            0 if config.window == "expanding" else max(0, train_end - config.train_days + 1)
        )
        end = min(start + config.retrain_every, n) - 1
        folds.append(Fold(index, dates[train_start], dates[train_end], dates[start], dates[end]))
    return folds


def _target(train: pl.DataFrame, kind: str) -> np.ndarray:
    if kind == "raw":
        return train[LABEL].to_numpy()
    ranked = pl.col(LABEL).rank("average") / pl.col(LABEL).count() - 0.5
    return train.select(ranked.over("timestamp"))[LABEL].to_numpy()


def run_walk_forward(
    frame: pl.DataFrame,
    features: Sequence[str],
    model_factory: Callable[[], AlphaModel],
    config: WalkForwardConfig | None = None,
    horizon: int = 1,
    on_fold: Callable[[FoldResult, int], None] | None = None,
) -> WalkForwardResult:
    """Train and predict fold by fold over ``frame`` (symbol, timestamp, features, label).

    Training rows need a label and every feature; test rows are scored whatever their label,
    so the latest days (whose future is unknown) get scores too. ``on_fold(result, n_folds)``
    reports progress.
    """
    cfg = config or WalkForwardConfig()
    features = list(features)
    dates = frame["timestamp"].unique().sort().to_list()
    folds = walk_forward_folds(dates, cfg, horizon)
    trainable = pl.all_horizontal(pl.col([*features, LABEL]).is_not_null())
    predictions, results = [], []
    model: AlphaModel | None = None
    for fold in folds:
        train = frame.filter(
            pl.col("timestamp").is_between(fold.train_start, fold.train_end) & trainable
        )
        test = frame.filter(pl.col("timestamp").is_between(fold.test_start, fold.test_end))
        if train.height == 0:
            raise ValueError(f"fold {fold.index} has no complete training rows")
        model = model_factory().fit(train.select(features).to_numpy(), _target(train, cfg.target))
        scored = test.select(
            "symbol",
            "timestamp",
            pl.Series("score", model.predict(test.select(features).to_numpy())),
            pl.lit(fold.index, dtype=pl.Int32).alias("fold"),
            LABEL,
        )
        fold_ic = ic_summary(daily_ic(scored))
        result = FoldResult(fold, train.height, test.height, fold_ic["ic"], fold_ic["rank_ic"])
        results.append(result)
        predictions.append(scored)
        if on_fold is not None:
            on_fold(result, len(folds))
    stitched = pl.concat(predictions)
    daily = daily_ic(stitched)
    assert model is not None
    return WalkForwardResult(
        predictions=stitched.drop(LABEL),
        folds=results,
        daily=daily,
        summary=ic_summary(daily),
        final_model=model,
    )
