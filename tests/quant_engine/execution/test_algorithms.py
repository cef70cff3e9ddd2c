"""Execution algorithms: exact schedules, their shapes, and sizing from past data only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.execution.algorithms import (
    POV,
    TWAP,
    VWAP,
    ImplementationShortfall,
    SliceContext,
    almgren_chriss_holdings,
    volume_profile,
)


def schedule(algorithm, qty: int, volumes: np.ndarray, n_history: int) -> list[int]:
    """Children when every child fills in full."""
    n_slots = len(volumes) - n_history
    remaining, children = qty, []
    for slot in range(n_slots):
        past = volumes[: n_history + slot]
        child = algorithm.child_qty(SliceContext(slot, n_slots, qty, remaining, past, n_history))
        children.append(child)
        remaining -= child
    return children


ALGORITHMS = st.sampled_from(
    [TWAP(), VWAP(lookback=3), POV(rate=0.05), POV(rate=1.0), ImplementationShortfall(0.0)]
    + [ImplementationShortfall(u) for u in (0.5, 3.0, 12.0)]
)


@settings(max_examples=300, deadline=None)
@given(
    ALGORITHMS,
    st.integers(1, 10**7),
    st.integers(1, 30),
    st.integers(0, 60),
    st.integers(0, 2**32 - 1),
)
def test_schedules_sum_exactly_to_the_parent(algorithm, qty, n_slots, n_history, seed):
    volumes = np.random.default_rng(seed).integers(0, 10**6, size=n_history + n_slots)
    children = schedule(algorithm, qty, volumes.astype(float), n_history)
    assert len(children) == n_slots
    assert all(c >= 0 for c in children)
    assert sum(children) == qty


@settings(max_examples=100, deadline=None)
@given(ALGORITHMS, st.integers(2, 20), st.integers(0, 2**32 - 1), st.data())
def test_a_child_depends_on_nothing_after_its_slot(algorithm, n_slots, seed, data):
    n_history = 25
    volumes = np.random.default_rng(seed).integers(1, 10**6, size=n_history + n_slots) * 1.0
    cut = data.draw(st.integers(n_history, n_history + n_slots - 1))
    rewritten = volumes.copy()
    rewritten[cut:] = np.random.default_rng(seed + 1).integers(1, 10**6, size=len(volumes) - cut)
    before = schedule(algorithm, 100_000, volumes, n_history)
    after = schedule(algorithm, 100_000, rewritten, n_history)
    # the child for bar ``cut`` is sized before that bar trades
    decided = cut - n_history + 1
    assert after[:decided] == before[:decided]


def test_twap_splits_evenly_with_the_odd_shares_first():
    assert schedule(TWAP(), 10, np.ones(4), 0) == [3, 3, 2, 2]
    assert schedule(TWAP(), 3, np.ones(5), 0) == [1, 1, 1, 0, 0]


def test_volume_profile_averages_shares_by_position_over_past_windows():
    history = np.array([9, 1, 2, 2, 6, 1, 3])  # the last two windows of 3: [1,2,2], [6,1,3]
    assert np.allclose(volume_profile(history, 3, lookback=5), [0.4, 0.25, 0.35])
    assert np.allclose(volume_profile(history, 3, lookback=1), [0.6, 0.1, 0.3])
    assert np.allclose(volume_profile(np.array([4, 4, 2, 1, 1, 2]), 3, 5), [0.325, 0.325, 0.35])
    assert np.allclose(volume_profile(np.array([5.0]), 3, 5), [1 / 3] * 3)


def test_vwap_follows_the_profile():
    assert schedule(VWAP(profile=(1, 2, 7)), 1000, np.ones(3), 0) == [100, 200, 700]
    history = np.tile([1.0, 3.0], 10)  # a U-less, two-slot session: 25% then 75%
    assert schedule(VWAP(lookback=10), 400, np.concatenate([history, [0, 0]]), 20) == [100, 300]
    with pytest.raises(ValueError, match="profile needs 3 non-negative weights"):
        schedule(VWAP(profile=(1, 2)), 10, np.ones(3), 0)


def test_pov_trades_a_share_of_the_last_bars_volume_and_completes_at_the_end():
    volumes = np.array([1000, 500, 2000, 10, 0], dtype=float)
    assert schedule(POV(rate=0.1), 10**6, volumes, 1) == [100, 50, 200, 10**6 - 350]
    assert schedule(POV(rate=0.1, complete=False), 10**6, volumes, 1) == [100, 50, 200, 1]
    with pytest.raises(ValueError, match="rate must be in"):
        POV(rate=0)


def test_almgren_chriss_urgency_front_loads_and_zero_urgency_is_twap():
    assert schedule(ImplementationShortfall(0.0), 1000, np.ones(4), 0) == [250, 250, 250, 250]
    eager = schedule(ImplementationShortfall(4.0), 1000, np.ones(4), 0)
    assert eager == sorted(eager, reverse=True) and eager[0] > 600
    holdings = almgren_chriss_holdings(10, 2.0)
    assert holdings[0] == 1.0 and holdings[-1] == 0.0 and np.all(np.diff(holdings) < 0)
    kappa_t = ImplementationShortfall.from_risk_aversion(1e-6, 0.02, 1e-8, 10).urgency
    assert kappa_t == pytest.approx(np.sqrt(1e-6 * 0.02**2 / 1e-8) * 10)
