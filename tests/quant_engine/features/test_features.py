import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from quant_engine.features import (
    LABEL,
    FactorSetConfig,
    FeatureConfig,
    LabelConfig,
    add_forward_return_label,
    alpha158_columns,
    build_factor_sets,
    build_features,
    feature_columns,
    feature_names,
)
from quant_engine.features.raw_window import RAW_WINDOW_COLUMNS, RAW_WINDOW_DAYS
from quant_engine.models import NeuralConfig, NeuralModel, WalkForwardConfig, run_walk_forward
from tests.quant_engine.features.scramble import scramble_after


@pytest.mark.parametrize("cut_index", [70, 300, 650])
def test_no_feature_at_t_reads_a_bar_after_t(small_market, cut_index):
    bars = small_market.bars
    cutoff = bars["timestamp"].unique().sort()[cut_index]
    original = build_features(bars)
    changed = build_features(scramble_after(bars, cutoff))
    upto = pl.col("timestamp") <= cutoff
    assert_frame_equal(original.filter(upto), changed.filter(upto), check_exact=True)
    # The scramble is real: features after the cutoff do change.
    after = pl.col("timestamp") > cutoff
    assert not original.filter(after).equals(changed.filter(after))


def test_feature_columns_and_values(small_market):
    bars = small_market.bars
    frame = build_features(bars)
    assert frame.columns == ["symbol", "timestamp", *feature_columns()]
    one = frame.filter(pl.col("symbol") == "S003")
    closes = bars.filter(pl.col("symbol") == "S003")["close"].to_numpy()
    np.testing.assert_allclose(one["ret_5"].to_numpy()[5:], np.log(closes[5:] / closes[:-5]))
    log_ret = np.diff(np.log(closes))
    assert one["vol_20"][100] == pytest.approx(np.std(log_ret[80:100], ddof=1))
    ranks = frame.filter(pl.col("timestamp") == frame["timestamp"][200])["ret_5_rank"]
    assert ranks.min() == pytest.approx(1 / 24) and ranks.max() == pytest.approx(1.0)


def test_label_is_next_open_to_following_open(small_market):
    bars = small_market.bars
    labelled = add_forward_return_label(build_features(bars), bars, LabelConfig(horizon=2))
    one = labelled.filter(pl.col("symbol") == "S000")
    opens = bars.filter(pl.col("symbol") == "S000")["open"].to_numpy()
    np.testing.assert_allclose(one[LABEL].to_numpy()[:-3], opens[3:] / opens[1:-2] - 1)
    assert one[LABEL].tail(3).null_count() == 3  # the future is not known yet


def test_invalid_windows_are_rejected():
    with pytest.raises(ValueError, match="windows must be positive"):
        FeatureConfig(return_windows=(0, 5))
    with pytest.raises(ValueError, match="horizon"):
        LabelConfig(horizon=0)


def test_factor_sets_join_and_normalize_per_day(small_market):
    bars = small_market.bars
    both = build_factor_sets(bars, FactorSetConfig(sets=("basic", "alpha158")))
    assert feature_names(both) == feature_columns() + alpha158_columns()
    z = build_factor_sets(bars, FactorSetConfig(normalize="zscore"))
    day = z.filter(pl.col("timestamp") == z["timestamp"].unique().sort()[100])
    assert day["ret_5"].mean() == pytest.approx(0, abs=1e-12)
    assert day["ret_5"].std() == pytest.approx(1, rel=0.1)  # clipping may trim a tail
    ranked = build_factor_sets(bars, FactorSetConfig(normalize="rank"))
    assert ranked["vol_20"].min() > 0 and ranked["vol_20"].max() == 1


def test_normalization_uses_no_other_day(small_market):
    bars = small_market.bars
    cutoff = bars["timestamp"].unique().sort()[200]
    config = FactorSetConfig(sets=("basic", "alpha158"), normalize="zscore")
    original = build_factor_sets(bars, config)
    changed = build_factor_sets(scramble_after(bars, cutoff), config)
    upto = pl.col("timestamp") <= cutoff
    assert_frame_equal(original.filter(upto), changed.filter(upto), check_exact=True)


def test_unknown_factor_set_is_named():
    with pytest.raises(ValueError, match=r"unknown factor set\(s\) \['alpha999'\]"):
        FactorSetConfig(sets=("alpha999",))


def test_raw_window_rows_rebuild_the_normalized_price_path(small_market):
    bars = small_market.bars.filter(pl.col("symbol") == "S005")
    raw = build_factor_sets(bars, FactorSetConfig(sets=("raw_window",)))
    assert raw.columns == ["symbol", "timestamp", *RAW_WINDOW_COLUMNS]
    closes, opens = bars["close"].to_numpy(), bars["open"].to_numpy()
    # The last 60 rows seen from day t give each past close relative to today's close.
    t = 400
    window = raw["raw_close"].to_numpy()[t - RAW_WINDOW_DAYS + 1 : t + 1]
    path = np.concatenate([[0.0], np.cumsum(window[::-1])[:-1]])[::-1]
    np.testing.assert_allclose(np.exp(-path), closes[t - RAW_WINDOW_DAYS + 1 : t + 1] / closes[t])
    np.testing.assert_allclose(raw["raw_open"].to_numpy(), np.log(opens / closes))


def test_sequence_models_learn_from_the_raw_window(small_market):
    labelled = add_forward_return_label(
        build_factor_sets(small_market.bars, FactorSetConfig(sets=("raw_window",))),
        small_market.bars,
    )
    config = NeuralConfig(
        architecture="lstm", lookback=RAW_WINDOW_DAYS, hidden=16, layers=2, epochs=4, seed=3
    )
    result = run_walk_forward(
        labelled,
        list(RAW_WINDOW_COLUMNS),
        lambda: NeuralModel(config),
        WalkForwardConfig(min_train_days=250, retrain_every=225, valid_days=40),
    )
    assert result.summary["rank_ic"] > 0.04, result.summary


def test_float32_sets_are_the_float64_values_rounded_once(small_market):
    sets = ("basic", "alpha158", "raw_window")
    wide = build_factor_sets(small_market.bars, FactorSetConfig(sets))
    narrow = build_factor_sets(small_market.bars, FactorSetConfig(sets, dtype="float32"))
    names = [c for c in wide.columns if c not in ("symbol", "timestamp")]
    assert all(narrow.schema[name] == pl.Float32 for name in names)
    assert_frame_equal(narrow, wide.with_columns(pl.col(names).cast(pl.Float32)), check_exact=True)
    # Normalized in float64 from the rounded factors: z-scores within 1e-4.
    z = build_factor_sets(small_market.bars, FactorSetConfig(sets, "zscore", "float32"))
    z_wide = build_factor_sets(small_market.bars, FactorSetConfig(sets, "zscore"))
    assert z.schema["KMID"] == pl.Float32
    np.testing.assert_allclose(
        z.select(names).to_numpy(), z_wide.select(names).to_numpy(), rtol=1e-4, atol=1e-4
    )
    with pytest.raises(ValueError, match="unknown feature dtype"):
        FactorSetConfig(dtype="float16")
