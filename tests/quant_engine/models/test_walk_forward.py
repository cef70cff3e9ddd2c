import itertools
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from quant_engine.data import SyntheticMarketConfig, generate_market
from quant_engine.features import LABEL, add_forward_return_label, build_features, feature_columns
from quant_engine.models import (
    AlphaModel,
    LightGBMConfig,
    LightGBMModel,
    WalkForwardConfig,
    run_walk_forward,
    walk_forward_folds,
)

CONFIG = WalkForwardConfig(min_train_days=250, retrain_every=90, embargo_days=2)
FAST = LightGBMConfig(n_estimators=60)


def _model():
    return LightGBMModel(FAST)


def test_folds_tile_the_test_period_with_an_embargo():
    dates = [date(2020, 1, 1) + timedelta(days=i) for i in range(1000)]
    folds = walk_forward_folds(dates, CONFIG, horizon=2)
    assert folds[0].test_start == dates[252] and folds[-1].test_end == dates[-1]
    for fold, following in itertools.pairwise(folds):
        assert following.test_start == fold.test_end + timedelta(days=1)
    for fold in folds:
        gap = (fold.test_start - fold.train_end).days
        assert gap == CONFIG.embargo_days + 1  # train_end + embargo days + the test start
        assert fold.train_start == dates[0]  # expanding
    rolling = walk_forward_folds(
        dates, WalkForwardConfig(window="rolling", train_days=100, min_train_days=250), 1
    )
    assert all((f.train_end - f.train_start).days == 99 for f in rolling)


def test_embargo_shorter_than_the_label_horizon_is_refused():
    dates = [date(2020, 1, 1) + timedelta(days=i) for i in range(400)]
    with pytest.raises(ValueError, match="shorter than the label horizon 3"):
        walk_forward_folds(dates, CONFIG, horizon=3)


def test_only_out_of_sample_predictions_leave_the_stage(dataset):
    result = run_walk_forward(dataset, feature_columns(), _model, CONFIG, horizon=1)
    assert isinstance(result.final_model, AlphaModel)
    preds = result.predictions
    assert preds.columns == ["symbol", "timestamp", "score", "fold"]
    by_fold = {f.fold.index: f.fold for f in result.folds}
    bounds = preds.group_by("fold").agg(
        pl.col("timestamp").min().alias("first"), pl.col("timestamp").max().alias("last")
    )
    for row in bounds.iter_rows(named=True):
        fold = by_fold[row["fold"]]
        assert row["first"] == fold.test_start and row["last"] == fold.test_end
        assert fold.train_end < fold.test_start
    # Each (symbol, day) is predicted once; the latest days, whose label is unknown, too.
    assert preds.select("symbol", "timestamp").is_unique().all()
    assert preds["timestamp"].max() == dataset["timestamp"].max()
    assert result.summary["ic"] > 0.03 and result.summary["ic_tstat"] > 4


def test_labels_shuffled_across_time_give_no_skill(dataset):
    rng = np.random.default_rng(3)
    shuffled = dataset.with_columns(pl.Series(LABEL, rng.permutation(dataset[LABEL].to_numpy())))
    result = run_walk_forward(shuffled, feature_columns(), _model, CONFIG)
    # Evaluate against the true labels: the model could only have learned noise.
    truth = result.predictions.join(
        dataset.select("symbol", "timestamp", LABEL), on=["symbol", "timestamp"]
    )
    daily = truth.group_by("timestamp").agg(pl.corr("score", LABEL).alias("ic")).drop_nans()
    ic = daily["ic"].drop_nulls()
    t_stat = ic.mean() / ic.std() * np.sqrt(ic.len())
    assert abs(t_stat) < 3, f"IC {ic.mean():.4f} (t={t_stat:.2f}) is not indistinguishable from 0"


def test_same_seed_same_predictions(dataset):
    first = run_walk_forward(dataset, feature_columns(), _model, CONFIG)
    second = run_walk_forward(dataset, feature_columns(), _model, CONFIG)
    assert first.predictions.equals(second.predictions)
    assert first.summary == second.summary


def test_default_market_model_reaches_half_the_oracle_ic():
    """The demo's claim, on the default universe (50 symbols x 8 years) and default models."""
    market = generate_market(SyntheticMarketConfig())
    frame = add_forward_return_label(build_features(market.bars), market.bars)
    names = feature_columns()
    result = run_walk_forward(frame, names, LightGBMModel)
    assert market.bars["symbol"].n_unique() >= 50 and market.bars["timestamp"].n_unique() >= 2016
    assert result.summary["ic"] >= 0.5 * market.oracle_ic, (result.summary, market.oracle_ic)


def test_validation_slice_is_purged_from_the_fitted_rows():
    dates = [date(2020, 1, 1) + timedelta(days=i) for i in range(600)]
    config = WalkForwardConfig(min_train_days=300, retrain_every=100, embargo_days=2, valid_days=50)
    for fold in walk_forward_folds(dates, config, horizon=2):
        assert (fold.train_end - fold.valid_start).days == 49
        assert (fold.valid_start - fold.fit_end).days == 3  # two purged days between them
        assert (fold.test_start - fold.train_end).days == 3


def test_early_stopping_on_the_validation_slice(dataset):
    config = WalkForwardConfig(min_train_days=250, retrain_every=90, embargo_days=1, valid_days=60)
    many = LightGBMConfig(n_estimators=400, learning_rate=0.2, early_stopping_rounds=10)
    result = run_walk_forward(dataset, feature_columns(), lambda: LightGBMModel(many), config)
    booster = result.final_model.booster
    assert 0 < booster.best_iteration < 400  # stopped early on the validation slice
    assert result.summary["ic"] > 0.02
