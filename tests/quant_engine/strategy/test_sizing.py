"""Position sizers: hand-computed sizes, caps, and the risk-parity invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quant_engine.strategy import (
    FixedFractionSizer,
    KellySizer,
    MartingaleSizer,
    PositionSizer,
    RiskParitySizer,
    SignalStrengthSizer,
    SizingContext,
    VolatilityTargetSizer,
    equal_risk_contribution_weights,
    kelly_fraction,
    risk_contributions,
    trade_statistics,
)


def context(signals, equity=10_000.0, prices=None, **kwargs) -> SizingContext:
    n = len(signals)
    return SizingContext(
        equity=equity,
        symbols=tuple(f"S{i}" for i in range(n)),
        prices=np.full(n, 50.0) if prices is None else np.asarray(prices, dtype=float),
        signals=np.asarray(signals, dtype=float),
        **kwargs,
    )


def test_every_sizer_follows_the_protocol():
    for sizer in (
        FixedFractionSizer(),
        SignalStrengthSizer(),
        KellySizer(),
        VolatilityTargetSizer(),
        RiskParitySizer(),
        MartingaleSizer(),
    ):
        assert isinstance(sizer, PositionSizer)


def test_fixed_fraction_takes_the_signal_direction_and_skips_no_signal():
    sized = FixedFractionSizer(fraction=0.02).target_notional(context([1.0, -0.3, 0.0]))
    np.testing.assert_allclose(sized, [200.0, -200.0, 0.0])


def test_min_notional_drops_small_targets_and_quantities_round_to_lots():
    ctx = context([1.0, -1.0], prices=[30.0, 30.0])
    assert not FixedFractionSizer(fraction=0.02, min_notional=300).target_notional(ctx).any()
    quantity = FixedFractionSizer(fraction=0.02).target_quantity(ctx, lot_size=1.0)
    np.testing.assert_array_equal(quantity, [6.0, -6.0])  # 200 / 30 = 6.67 toward zero


def test_signal_strength_scales_with_conviction_above_its_floor():
    sized = SignalStrengthSizer(fraction=0.1, min_strength=0.5).target_notional(
        context([0.8, -0.5, 0.4])
    )
    np.testing.assert_allclose(sized, [800.0, -500.0, 0.0])


def test_kelly_matches_the_formula_and_respects_its_cap():
    assert kelly_fraction(0.6, 1.5) == pytest.approx((0.6 * 1.5 - 0.4) / 1.5)
    half = KellySizer(kelly_multiplier=0.5, payoff_ratio=1.5, max_fraction=1.0)
    # The signal's strength is the win probability: half of 1/3 of equity.
    np.testing.assert_allclose(
        half.target_notional(context([0.6, -0.6])), [10_000 / 6, -10_000 / 6]
    )
    capped = KellySizer(kelly_multiplier=0.5, payoff_ratio=1.5, max_fraction=0.1)
    np.testing.assert_allclose(capped.target_notional(context([0.6])), [1_000.0])
    no_edge = KellySizer(payoff_ratio=1.0, max_fraction=1.0)
    np.testing.assert_array_equal(no_edge.target_notional(context([0.3, 0.5])), [0.0, 0.0])


def test_kelly_uses_trade_statistics_when_given_a_win_rate():
    win_rate, payoff = trade_statistics([10.0, -5.0, 20.0, -5.0])
    assert (win_rate, payoff) == (0.5, 3.0)
    sizer = KellySizer(kelly_multiplier=1.0, win_rate=win_rate, payoff_ratio=payoff, max_fraction=1)
    # f* = (0.5 * 3 - 0.5) / 3 = 1/3 whatever the signal's strength.
    np.testing.assert_allclose(
        sizer.target_notional(context([0.1, -0.9])), [10_000 / 3, -10_000 / 3]
    )
    with pytest.raises(ValueError, match="winning and one losing"):
        trade_statistics([1.0, 2.0])


def test_volatility_target_scales_inversely_with_volatility_under_its_cap():
    vols = np.array([0.04, 0.02, 0.01, 0.001])
    sizer = VolatilityTargetSizer(target_volatility=0.01, max_fraction=2.0)
    sized = sizer.target_notional(context([1, 1, -1, 1], volatilities=vols))
    np.testing.assert_allclose(sized, [2_500.0, 5_000.0, -10_000.0, 20_000.0])  # last one capped
    np.testing.assert_allclose(np.abs(sized[:3]) * vols[:3], 100.0)  # equal risk per position


def test_volatility_sizers_say_what_is_missing():
    with pytest.raises(ValueError, match="needs volatilities"):
        VolatilityTargetSizer().target_notional(context([1.0]))
    with pytest.raises(ValueError, match="needs a covariance"):
        RiskParitySizer(method="equal_risk_contribution").target_notional(context([1.0]))


def test_inverse_volatility_risk_parity_equalises_stand_alone_risk():
    sizer = RiskParitySizer(gross_exposure=1.0)
    sized = sizer.target_notional(context([1, 1, 0], volatilities=np.array([0.1, 0.2, 0.3])))
    np.testing.assert_allclose(sized, [20_000 / 3, 10_000 / 3, 0.0])
    assert sized[0] * 0.1 == pytest.approx(sized[1] * 0.2)


def test_equal_risk_contribution_sizer_equalises_contributions_of_signed_positions():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T / 4 + 0.01 * np.eye(4)
    sizer = RiskParitySizer(method="equal_risk_contribution", gross_exposure=2.0)
    sized = sizer.target_notional(context([1.0, -1.0, 0.5, 0.0], covariance=cov))
    assert sized[3] == 0 and sized[1] < 0
    assert np.abs(sized).sum() == pytest.approx(20_000.0)
    active = [0, 1, 2]
    contributions = risk_contributions(sized[active], cov[np.ix_(active, active)])
    np.testing.assert_allclose(contributions, 1 / 3, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64,
        (5, 5),
        elements=st.floats(-1, 1, allow_nan=False, allow_infinity=False),
    )
)
def test_equal_risk_contribution_weights_equalise_contributions(a):
    cov = a @ a.T + 0.05 * np.eye(5)
    weights = equal_risk_contribution_weights(cov)
    assert np.all(weights > 0) and weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(risk_contributions(weights, cov), 0.2, atol=1e-8)


def test_martingale_grows_per_level_stops_at_max_levels_and_is_capped():
    ctx = context([1, 1, 1, 1], open_entries=np.array([0, 1, 2, 3]))
    sizer = MartingaleSizer(base_fraction=0.01, multiplier=2.0, max_levels=3, max_fraction=1.0)
    np.testing.assert_allclose(sizer.target_notional(ctx), [100.0, 200.0, 400.0, 0.0])
    capped = MartingaleSizer(base_fraction=0.01, multiplier=2.0, max_levels=3, max_fraction=0.03)
    np.testing.assert_allclose(capped.target_notional(ctx), [100.0, 200.0, 300.0, 0.0])


def test_context_from_mappings_aligns_symbols_and_names_bad_values():
    ctx = SizingContext.from_mappings(
        10_000.0, prices={"B": 20.0, "A": 10.0}, signals={"B": -1.0, "A": 1.0}
    )
    assert ctx.symbols == ("A", "B")
    np.testing.assert_allclose(FixedFractionSizer(fraction=0.1).target_quantity(ctx), [100, -50])
    with pytest.raises(ValueError, match="volatilities: symbol 'B'"):
        SizingContext.from_mappings(
            1.0, prices={"A": 1.0, "B": 1.0}, signals={"A": 1, "B": 1}, volatilities={"A": 0.1}
        )
    with pytest.raises(ValueError, match=r"prices: symbol 'S1' has value -2\.0"):
        context([1.0, 1.0], prices=[1.0, -2.0])
    with pytest.raises(ValueError, match="no price"):
        SizingContext.from_mappings(1.0, prices={}, signals={"A": 1.0})
