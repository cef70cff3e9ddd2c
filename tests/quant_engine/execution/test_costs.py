"""Impact, slippage and commission models on hand-checked numbers."""

from __future__ import annotations

import math

import pytest

from quant_engine.execution.commission import BpsCommission, PerShare, TieredPerShare
from quant_engine.execution.impact import (
    BarState,
    CompositeImpact,
    FixedSpread,
    Impact,
    KyleLambda,
    LinearImpact,
    SquareRootImpact,
    VolumeShare,
)

BAR = BarState(price=50.0, volume=20_000.0, sigma=0.02, adv=100_000.0)


def test_impact_models():
    assert FixedSpread(5).impact(1000, BAR) == Impact(1000, 5e-4, 0.0)
    assert LinearImpact(0.2).impact(1000, BAR) == Impact(1000, pytest.approx(0.002), 0.0)
    sqrt = SquareRootImpact(0.5).impact(1000, BAR)
    assert sqrt.temporary == pytest.approx(0.5 * 0.02 * math.sqrt(0.01))
    assert KyleLambda(1e-4).impact(1000, BAR) == Impact(1000, 0.0, pytest.approx(0.1 / 50))
    # square-root impact grows slower than linear in size
    big = SquareRootImpact(0.5).impact(4000, BAR).temporary
    assert big == pytest.approx(2 * sqrt.temporary)


def test_volume_share_caps_the_fill_at_a_share_of_the_bars_volume():
    model = VolumeShare(volume_limit=0.1, price_impact=0.1)
    assert model.impact(5000, BAR) == Impact(2000, pytest.approx(0.1 * 0.1**2), 0.0)
    assert model.impact(500, BAR) == Impact(500, pytest.approx(0.1 * 0.025**2), 0.0)
    assert model.impact(500, BAR._replace(volume=0.0)).filled == 0


def test_composite_adds_costs_at_the_smallest_allowed_fill():
    model = CompositeImpact((FixedSpread(2), VolumeShare(0.1, 0.0), KyleLambda(1e-4)))
    hit = model.impact(5000, BAR)
    assert hit.filled == 2000
    assert hit.temporary == pytest.approx(2e-4)
    assert hit.permanent == pytest.approx(1e-4 * 2000 / 50)


def test_commissions():
    assert PerShare(0.005, minimum=1.0).commission(100, 20.0) == 1.0
    assert PerShare(0.005, minimum=1.0).commission(1000, 20.0) == 5.0
    assert PerShare(0.005, minimum=1.0).commission(0, 20.0) == 0.0
    assert BpsCommission(2).commission(1000, 50.0) == pytest.approx(10.0)
    tiered = TieredPerShare(((100, 0.01), (300, 0.005), (math.inf, 0.001)))
    assert tiered.commission(50, 10.0) == pytest.approx(0.5)
    # 50 shares at 0.01, 200 at 0.005, 50 beyond at 0.001
    assert tiered.commission(300, 10.0, traded_before=50) == pytest.approx(0.5 + 1.0 + 0.05)
    assert tiered.commission(10, 10.0, traded_before=1000) == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: FixedSpread(-1), "half_spread_bps must be non-negative"),
        (lambda: SquareRootImpact(-0.1), "coef must be non-negative"),
        (lambda: VolumeShare(volume_limit=2), "volume_limit must be in"),
        (lambda: PerShare(-1), "rate and minimum must be non-negative"),
        (lambda: TieredPerShare(((300, 0.01), (100, 0.02))), "tiers must increase"),
    ],
)
def test_bad_parameters_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()
