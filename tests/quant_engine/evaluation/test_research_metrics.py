"""IC decay, quantile spreads, Sharpe confidence, and robustness to input noise."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from quant_engine.evaluation import (
    bootstrap_sharpe_ci,
    deflated_sharpe_ratio,
    ic_decay,
    quantile_returns,
    sharpe,
)
from quant_engine.evaluation.robustness import adversarial_noise_ic
from quant_engine.features import add_forward_return_label, build_features, feature_columns
from quant_engine.models import LightGBMConfig, LightGBMModel, Panel


def test_ic_decay_of_a_perfect_one_day_forecast(small_market):
    bars = small_market.bars
    # A score that is exactly the next period's return: IC 1 at horizon 1, then it must fade.
    perfect = add_forward_return_label(bars.select("symbol", "timestamp"), bars)
    decay = ic_decay(perfect.rename({"label": "score"}), bars, horizons=(1, 5, 20))
    assert decay["horizon"].to_list() == [1, 5, 20]
    ic = decay["ic"].to_list()
    assert ic[0] == pytest.approx(1.0)
    assert ic[0] > ic[1] > ic[2]


def test_ic_decay_matches_a_direct_computation(small_market):
    bars = small_market.bars
    oracle = small_market.expected_returns.rename({"expected_return": "score"})
    h = 5
    got = ic_decay(oracle, bars, horizons=(h,))["ic"][0]
    opens = bars.pivot(on="symbol", index="timestamp", values="open").drop("timestamp").to_numpy()
    scores = oracle.pivot(on="symbol", index="timestamp", values="score").drop("timestamp")
    scores = scores.to_numpy()
    forward = opens[1 + h :] / opens[1:-h] - 1
    daily = [
        np.corrcoef(scores[t], forward[t])[0, 1]
        for t in range(forward.shape[0])
        if scores[t].std() > 0
    ]
    assert got == pytest.approx(np.mean(daily), rel=1e-9)


def test_quantile_buckets_order_returns_by_score():
    rng = np.random.default_rng(0)
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(50)]
    score = rng.standard_normal(50 * 20)
    frame = pl.DataFrame(
        {
            "timestamp": [day for day in days for _ in range(20)],
            "score": score,
            "label": 0.01 * score + 0.001 * rng.standard_normal(score.size),
        }
    )
    daily, summary = quantile_returns(frame, n_quantiles=4)
    assert daily.group_by("timestamp", "quantile").len()["len"].max() == 1
    assert daily.filter(pl.col("timestamp") == days[0])["quantile"].to_list() == [1, 2, 3, 4]
    means = summary["mean_return"].to_list()
    assert means[:4] == sorted(means[:4])
    assert summary["quantile"].to_list()[-1] == "spread"
    assert means[4] == pytest.approx(means[3] - means[0])


def test_bootstrap_interval_brackets_the_sharpe_and_narrows_with_more_data():
    rng = np.random.default_rng(1)
    long = 0.0005 + 0.01 * rng.standard_normal(4000)
    low, high = bootstrap_sharpe_ci(long, seed=3)
    assert low < sharpe(long) < high
    short_low, short_high = bootstrap_sharpe_ci(long[:500], seed=3)
    assert short_high - short_low > high - low
    assert bootstrap_sharpe_ci(long, seed=3) == (low, high)  # seeded


def test_deflated_sharpe_falls_with_the_number_of_trials():
    rng = np.random.default_rng(2)
    returns = 0.0008 + 0.01 * rng.standard_normal(1000)
    single = deflated_sharpe_ratio(returns, n_trials=1)
    # One trial: the probabilistic Sharpe ratio against zero, about Phi(SR * sqrt(T - 1)).
    sr = returns.mean() / returns.std(ddof=1)
    from statistics import NormalDist

    assert single == pytest.approx(NormalDist().cdf(sr * np.sqrt(999)), abs=0.02)
    many = [deflated_sharpe_ratio(returns, n_trials=n) for n in (10, 100, 1000)]
    assert single > many[0] > many[1] > many[2]
    noise = 0.01 * rng.standard_normal(1000)
    assert deflated_sharpe_ratio(noise, n_trials=100) < 0.5


def test_input_noise_hurts_and_the_worst_case_hurts_most(small_market):
    bars = small_market.bars
    frame = add_forward_return_label(build_features(bars), bars).drop_nulls()
    names = feature_columns()
    dates = frame["timestamp"].unique().sort()
    test = frame.filter(pl.col("timestamp") >= dates[402])
    model = LightGBMModel(LightGBMConfig(n_estimators=60))
    panel = Panel.from_frame(frame, names)
    train_rows = np.flatnonzero((frame["timestamp"] < dates[400]).to_numpy())
    model.fit(panel, train_rows, frame["label"].to_numpy()[train_rows])
    result = adversarial_noise_ic(model, test, names, sigmas=(0.1, 0.5), seed=0)
    ic = {(r["perturbation"], r["sigma"]): r["ic"] for r in result.iter_rows(named=True)}
    assert ic[("none", 0.0)] > 0.03
    assert ic[("worst_case", 0.1)] < ic[("none", 0.0)]
    assert ic[("worst_case", 0.5)] < ic[("gaussian", 0.5)] < ic[("none", 0.0)]
    assert ic[("worst_case", 0.5)] < ic[("worst_case", 0.1)]
