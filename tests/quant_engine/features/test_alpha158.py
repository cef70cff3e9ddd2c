import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from quant_engine.features.alpha158 import Alpha158Config, alpha158_columns, build_alpha158
from tests.quant_engine.features.scramble import scramble_after

D = 10
CONFIG = Alpha158Config(windows=(5, D))


@pytest.fixture(scope="module")
def factors(small_market):
    return build_alpha158(small_market.bars, CONFIG)


def test_the_default_set_has_158_named_factors():
    names = alpha158_columns()
    assert len(names) == len(set(names)) == 158
    assert {"KMID", "VWAP0", "ROC5", "RSQR60", "IMXD30", "VSUMD20"} <= set(names)


def test_no_factor_at_t_reads_a_bar_after_t(small_market, factors):
    bars = small_market.bars
    cutoff = bars["timestamp"].unique().sort()[300]
    changed = build_alpha158(scramble_after(bars, cutoff), CONFIG)
    upto = pl.col("timestamp") <= cutoff
    assert_frame_equal(factors.filter(upto), changed.filter(upto), check_exact=True)
    assert not factors.filter(~upto).equals(changed.filter(~upto))


def test_each_window_starts_after_its_warm_up(factors):
    first_symbol = factors.filter(pl.col("symbol") == "S000")
    assert first_symbol[f"MA{D}"][:D].null_count() == D
    assert first_symbol[f"MA{D}"][D] is not None
    # The first bars of the second symbol must not borrow from the end of the first.
    second = factors.filter(pl.col("symbol") == "S001")
    assert second[f"CORR{D}"][:D].null_count() == D and second[f"IMAX{D}"][:D].null_count() == D


def test_values_match_plain_numpy(small_market, factors):
    bars = small_market.bars.filter(pl.col("symbol") == "S002")
    o, h, lo, c, v = (bars[x].to_numpy() for x in ("open", "high", "low", "close", "volume"))
    row = factors.filter(pl.col("symbol") == "S002").row(250, named=True)
    i, w = 250, slice(250 - D + 1, 251)
    x = np.arange(D)
    slope, intercept = np.polyfit(x, c[w], 1)
    fitted = intercept + slope * x
    ret, vol_change = np.diff(c), np.diff(v)
    moves, vmoves = np.abs(ret[i - D : i]), np.abs(vol_change[i - D : i])
    abs_ret_volume = np.abs(c[1:] / c[:-1] - 1) * v[1:]
    expected = {
        "KMID": (c[i] - o[i]) / o[i],
        "KSFT2": (2 * c[i] - h[i] - lo[i]) / (h[i] - lo[i] + 1e-12),
        "VWAP0": (h[i] + lo[i] + c[i]) / 3 / c[i],
        f"ROC{D}": c[i - D] / c[i],
        f"MA{D}": c[w].mean() / c[i],
        f"STD{D}": c[w].std(ddof=1) / c[i],
        f"BETA{D}": slope / c[i],
        f"RSQR{D}": np.corrcoef(x, c[w])[0, 1] ** 2,
        f"RESI{D}": (c[i] - fitted[-1]) / c[i],
        f"MAX{D}": h[w].max() / c[i],
        f"QTLU{D}": np.quantile(c[w], 0.8) / c[i],
        f"RANK{D}": (np.sum(c[w] < c[i]) + 1) / D,
        f"RSV{D}": (c[i] - lo[w].min()) / (h[w].max() - lo[w].min() + 1e-12),
        f"IMAX{D}": (np.argmax(h[w]) + 1) / D,
        f"IMXD{D}": (np.argmax(h[w]) - np.argmin(lo[w])) / D,
        f"CORR{D}": np.corrcoef(c[w], np.log(v[w] + 1))[0, 1],
        f"CNTP{D}": np.mean(ret[i - D : i] > 0),
        f"SUMP{D}": np.clip(ret[i - D : i], 0, None).sum() / (moves.sum() + 1e-12),
        f"VSUMN{D}": np.clip(-vol_change[i - D : i], 0, None).sum() / (vmoves.sum() + 1e-12),
        f"VMA{D}": v[w].mean() / v[i],
        f"WVMA{D}": abs_ret_volume[i - D : i].std(ddof=1) / abs_ret_volume[i - D : i].mean(),
    }
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-7, abs=1e-10), name
