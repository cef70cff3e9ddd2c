import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from quant_engine.features import (
    LABEL,
    FeatureConfig,
    LabelConfig,
    add_forward_return_label,
    build_features,
    feature_columns,
)


def _scramble_after(bars: pl.DataFrame, cutoff, seed: int = 0) -> pl.DataFrame:
    """Replace every bar after ``cutoff`` with different (still valid) values."""
    rng = np.random.default_rng(seed)
    shock = pl.Series(rng.uniform(0.5, 2.0, bars.height))
    later = pl.col("timestamp") > cutoff
    return bars.with_columns(
        *(pl.when(later).then(pl.col(c) * shock).otherwise(pl.col(c)) for c in ("open", "high")),
        *(pl.when(later).then(pl.col(c) * shock).otherwise(pl.col(c)) for c in ("low", "close")),
        pl.when(later).then(pl.col("volume") * shock.pow(3)).otherwise(pl.col("volume")),
    )


@pytest.mark.parametrize("cut_index", [70, 300, 650])
def test_no_feature_at_t_reads_a_bar_after_t(small_market, cut_index):
    bars = small_market.bars
    cutoff = bars["timestamp"].unique().sort()[cut_index]
    original = build_features(bars)
    changed = build_features(_scramble_after(bars, cutoff))
    upto = pl.col("timestamp") <= cutoff
    assert_frame_equal(original.filter(upto), changed.filter(upto))
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
