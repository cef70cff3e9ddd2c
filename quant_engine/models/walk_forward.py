"""Walk-forward training shared by every model family: only out-of-sample scores leave it.

Dates are split into consecutive test blocks of ``retrain_every`` days. Each block gets a model
trained on an expanding (or rolling) window that ends ``embargo_days`` before the block starts,
so no training label overlaps the block: the label of day ``s`` is known at the open of
``s + 1 + horizon``, and ``embargo_days >= horizon`` keeps that at or before the block's first day.
With ``valid_days``, the window's last days become a validation slice for early stopping,
purged from the rows fitted on in the same way.
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
from quant_engine.models.panel import Panel, is_sorted_by_key


@dataclass(frozen=True)
class WalkForwardConfig:
    """How the timeline is cut into train, validation and test blocks (in trading days)."""

    window: Literal["expanding", "rolling"] = "expanding"
    train_days: int = 756  # length of a rolling window
    min_train_days: int = 504  # history before the first test block
    retrain_every: int = 63
    embargo_days: int = 1
    valid_days: int = 0  # 0: no validation slice, no early stopping
    target: Literal["rank", "raw"] = "rank"  # train on per-day label ranks or raw returns

    def __post_init__(self) -> None:
        if self.window not in ("expanding", "rolling") or self.target not in ("rank", "raw"):
            raise ValueError(f"unknown window {self.window!r} or target {self.target!r}")
        if min(self.train_days, self.min_train_days, self.retrain_every) < 1:
            raise ValueError("train_days, min_train_days and retrain_every must be positive")
        if self.embargo_days < 0 or self.valid_days < 0:
            raise ValueError("embargo_days and valid_days must be non-negative")
        if self.valid_days + self.embargo_days >= self.min_train_days:
            raise ValueError("the validation slice and its purge leave no days to fit on")


@dataclass(frozen=True)
class Fold:
    """One split as inclusive day ranges; ``fit_end < valid_start`` when validating."""

    index: int
    train_start: datetime
    fit_end: datetime
    valid_start: datetime | None
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


def _fold_days(n: int, config: WalkForwardConfig, horizon: int) -> list[tuple[int, ...]]:
    """(train_start, fit_end, valid_start, train_end, test_start, test_end) day indices."""
    if config.embargo_days < horizon:
        raise ValueError(
            f"embargo_days={config.embargo_days} is shorter than the label horizon {horizon}:"
            " training labels would overlap the test block"
        )
    first_test = config.min_train_days + config.embargo_days
    if first_test >= n:
        raise ValueError(
            f"{n} dates leave no test block after {config.min_train_days} training days"
            f" and an embargo of {config.embargo_days}"
        )
    days = []
    for start in range(first_test, n, config.retrain_every):
        train_end = start - 1 - config.embargo_days
        train_start = (
            0 if config.window == "expanding" else max(0, train_end - config.train_days + 1)
        )
        valid_start = train_end - config.valid_days + 1 if config.valid_days else train_end + 1
        fit_end = valid_start - 1 - (config.embargo_days if config.valid_days else 0)
        if fit_end < train_start:
            raise ValueError("the validation slice and its purge leave no days to fit on")
        end = min(start + config.retrain_every, n) - 1
        days.append((train_start, fit_end, valid_start, train_end, start, end))
    return days


def walk_forward_folds(
    dates: Sequence[datetime], config: WalkForwardConfig, horizon: int = 1
) -> list[Fold]:
    """Cut sorted unique ``dates`` into folds; the last block always reaches the last date."""
    folds = []
    for i, (t0, fit_end, v0, t1, s0, s1) in enumerate(_fold_days(len(dates), config, horizon)):
        valid = dates[v0] if config.valid_days else None
        folds.append(Fold(i, dates[t0], dates[fit_end], valid, dates[t1], dates[s0], dates[s1]))
    return folds


def _targets(frame: pl.DataFrame, kind: str) -> np.ndarray:
    if kind == "raw":
        return frame[LABEL].to_numpy()
    ranked = pl.col(LABEL).rank("average") / pl.col(LABEL).count() - 0.5
    return frame.select(ranked.over("timestamp"))[LABEL].to_numpy()


def run_walk_forward(
    frame: pl.DataFrame,
    features: Sequence[str],
    model_factory: Callable[[], AlphaModel],
    config: WalkForwardConfig | None = None,
    horizon: int = 1,
    on_fold: Callable[[FoldResult, int], None] | None = None,
    panel: Panel | None = None,
) -> WalkForwardResult:
    """Train and predict fold by fold over ``frame`` (symbol, timestamp, features, label).

    Rows fitted on (and validated on) need a label and every feature; test rows are scored
    whatever their label, so the latest days (whose future is unknown) get scores too.
    ``on_fold(result, n_folds)`` reports progress. ``panel``: the features of ``frame``'s
    rows (sorted by symbol, timestamp) already assembled, e.g. shared with another run.
    """
    cfg = config or WalkForwardConfig()
    if panel is None:
        frame, panel = Panel.sorted_from_frame(frame, features)
    elif panel.features.shape[0] != frame.height or not is_sorted_by_key(frame):
        raise ValueError("a given panel needs the frame's rows, sorted by symbol, timestamp")
    dates = frame["timestamp"].unique().sort().to_list()
    folds = walk_forward_folds(dates, cfg, horizon)
    day = frame.select(pl.col("timestamp").rank("dense") - 1).to_series().to_numpy()
    usable = (
        frame.select(pl.all_horizontal(pl.col([*features, LABEL]).is_not_null()))
        .to_series()
        .to_numpy()
    )
    targets = _targets(frame, cfg.target)
    keys = frame.select("symbol", "timestamp")
    predictions, results = [], []
    model: AlphaModel | None = None
    for fold, (t0, fit_end, v0, t1, s0, s1) in zip(
        folds, _fold_days(len(dates), cfg, horizon), strict=True
    ):
        fit = np.flatnonzero(usable & (day >= t0) & (day <= fit_end))
        valid_rows = np.flatnonzero(usable & (day >= v0) & (day <= t1))
        test = np.flatnonzero((day >= s0) & (day <= s1))
        if fit.size == 0:
            raise ValueError(f"fold {fold.index} has no complete training rows")
        valid = (valid_rows, targets[valid_rows]) if cfg.valid_days and valid_rows.size else None
        model = model_factory().fit(panel, fit, targets[fit], valid)
        scored = keys[test].with_columns(
            pl.Series("score", model.predict(panel, test), dtype=pl.Float64),
            pl.lit(fold.index, dtype=pl.Int32).alias("fold"),
            frame[LABEL][test],
        )
        fold_ic = ic_summary(daily_ic(scored))
        result = FoldResult(fold, fit.size, test.size, fold_ic["ic"], fold_ic["rank_ic"])
        results.append(result)
        predictions.append(scored)
        if on_fold is not None:
            on_fold(result, len(folds))
    stitched = pl.concat(predictions)
    daily = daily_ic(stitched)
    assert model is not None  # there is always at least one fold
    return WalkForwardResult(
        predictions=stitched.drop(LABEL),
        folds=results,
        daily=daily,
        summary=ic_summary(daily),
        final_model=model,
    )
