import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy.stats import rankdata

from quant_engine.features.alpha158 import ROLLING, Alpha158Config, alpha158_columns, build_alpha158
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


def test_a_rows_factors_depend_on_its_window_alone(small_market, factors):
    # Bit for bit, however much history precedes the window: a lookback window of the
    # longest window's length reproduces the full build's newest rows exactly.
    days = small_market.bars["timestamp"].unique().sort()
    recent = build_alpha158(small_market.bars.filter(pl.col("timestamp") >= days[400]), CONFIG)
    settled = pl.col("timestamp") >= days[400 + D]
    assert recent.filter(settled).height == factors.filter(settled).height > 0
    assert_frame_equal(factors.filter(settled), recent.filter(settled), check_exact=True)


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


def _reference(bars: pl.DataFrame, d: int) -> dict[str, np.ndarray]:
    """The rolling factors of window ``d`` for one symbol, one window at a time in numpy."""
    h, lo, c, v = (bars[x].to_numpy() for x in ("high", "low", "close", "volume"))
    n, eps, x = c.shape[0], 1e-12, np.arange(d)
    out = {name: np.full(n, np.nan) for name in ROLLING}
    for i in range(d, n):
        w, prev = slice(i - d + 1, i + 1), slice(i - d, i)
        cw, hw, lw, vw = c[w], h[w], lo[w], v[w]
        move, vmove = c[w] - c[prev], v[w] - v[prev]
        ret, abs_ret_volume = c[w] / c[prev], np.abs(c[w] / c[prev] - 1) * vw
        slope, intercept = np.polyfit(x, cw, 1)
        up, down = np.clip(move, 0, None).sum(), np.clip(-move, 0, None).sum()
        vup, vdown = np.clip(vmove, 0, None).sum(), np.clip(-vmove, 0, None).sum()
        values = {
            "ROC": c[i - d] / c[i],
            "MA": cw.mean() / c[i],
            "STD": cw.std(ddof=1) / c[i],
            "BETA": slope / c[i],
            "RSQR": np.corrcoef(x, cw)[0, 1] ** 2,
            "RESI": (c[i] - intercept - slope * (d - 1)) / c[i],
            "MAX": hw.max() / c[i],
            "MIN": lw.min() / c[i],
            "QTLU": np.quantile(cw, 0.8) / c[i],
            "QTLD": np.quantile(cw, 0.2) / c[i],
            "RANK": rankdata(cw)[-1] / d,
            "RSV": (c[i] - lw.min()) / (hw.max() - lw.min() + eps),
            "CORR": np.corrcoef(cw, np.log(vw + 1))[0, 1],
            "CORD": np.corrcoef(ret, np.log(vw / v[prev] + 1))[0, 1],
            "CNTP": np.mean(move > 0),
            "CNTN": np.mean(move < 0),
            "CNTD": np.mean(move > 0) - np.mean(move < 0),
            "SUMP": up / (up + down + eps),
            "SUMN": down / (up + down + eps),
            "SUMD": (up - down) / (up + down + eps),
            "VMA": vw.mean() / (v[i] + eps),
            "VSTD": vw.std(ddof=1) / (v[i] + eps),
            "WVMA": abs_ret_volume.std(ddof=1) / (abs_ret_volume.mean() + eps),
            "VSUMP": vup / (vup + vdown + eps),
            "VSUMN": vdown / (vup + vdown + eps),
            "VSUMD": (vup - vdown) / (vup + vdown + eps),
            "IMAX": (np.argmax(hw) + 1) / d,
            "IMIN": (np.argmin(lw) + 1) / d,
            "IMXD": (np.argmax(hw) - np.argmin(lw)) / d,
        }
        for name, value in values.items():
            out[name][i] = value
    return {f"{name}{d}": values for name, values in out.items()}


@pytest.mark.parametrize("symbol", ["S000", "S013"])
def test_every_factor_matches_a_window_by_window_numpy_reference(small_market, factors, symbol):
    bars = small_market.bars.filter(pl.col("symbol") == symbol).sort("timestamp")
    ours = factors.filter(pl.col("symbol") == symbol)
    o, h, lo, c = (bars[x].to_numpy() for x in ("open", "high", "low", "close"))
    span = h - lo + 1e-12
    expected = {
        "KMID": (c - o) / o,
        "KLEN": (h - lo) / o,
        "KMID2": (c - o) / span,
        "KUP": (h - np.maximum(o, c)) / o,
        "KUP2": (h - np.maximum(o, c)) / span,
        "KLOW": (np.minimum(o, c) - lo) / o,
        "KLOW2": (np.minimum(o, c) - lo) / span,
        "KSFT": (2 * c - h - lo) / o,
        "KSFT2": (2 * c - h - lo) / span,
        "OPEN0": o / c,
        "HIGH0": h / c,
        "LOW0": lo / c,
        "VWAP0": (h + lo + c) / 3 / c,
    }
    for d in CONFIG.windows:
        expected |= _reference(bars, d)
    assert sorted(expected) == sorted(alpha158_columns(CONFIG))
    for name, values in expected.items():
        got = ours[name].to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(values)), name
        np.testing.assert_allclose(got, values, rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("threads", [1, 3, 64])
def test_the_build_split_across_threads_equals_one_pass(
    small_market, factors, monkeypatch, threads
):
    """Symbols of unequal length (a late listing, one shorter than a window) split into runs of
    about equal rows, one per CPU: the same values bit for bit as a single pass."""
    import quant_engine.features.alpha158 as alpha158

    bars = small_market.bars
    days = bars["timestamp"].unique().sort()
    ragged = bars.filter(
        (pl.col("symbol") != "S001") | (pl.col("timestamp") >= days[200]),
        (pl.col("symbol") != "S002") | (pl.col("timestamp") >= days[-3]),
    )
    monkeypatch.setattr(alpha158, "_cpus", lambda: 1)
    single = build_alpha158(ragged, CONFIG)
    monkeypatch.setattr(alpha158, "_cpus", lambda: threads)
    assert_frame_equal(build_alpha158(ragged, CONFIG), single, check_exact=True)
    assert_frame_equal(build_alpha158(bars, CONFIG), factors, check_exact=True)


def test_threads_follow_the_containers_cpu_limit(tmp_path):
    """cgroup v2's ``cpu.max``: a 2-CPU pod on a larger node runs two threads, not one per CPU."""
    from quant_engine.features.alpha158 import _cpus

    limit = tmp_path / "cpu.max"
    unlimited = _cpus(tmp_path / "absent")
    limit.write_text("max 100000\n")
    assert _cpus(limit) == unlimited
    limit.write_text("150000 100000\n")  # 1.5 CPUs: two threads share them
    assert _cpus(limit) == min(2, unlimited)
    limit.write_text("50000 100000\n")
    assert _cpus(limit) == 1
