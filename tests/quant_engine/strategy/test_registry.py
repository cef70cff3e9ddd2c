"""Building components from run-config mappings."""

from __future__ import annotations

import numpy as np
import pytest

from quant_engine.strategy import (
    AllOf,
    AnyOf,
    DrawdownFilter,
    KellySizer,
    TimeOfDayFilter,
    WeightedVote,
    build_filter,
    build_sizer,
    build_voter,
)
from quant_engine.strategy.registry import FILTERS, SIZERS


def test_specs_build_the_named_components():
    assert build_sizer({"kind": "kelly", "kelly_multiplier": 0.25}) == KellySizer(
        kelly_multiplier=0.25
    )
    spec = {
        "kind": "all_of",
        "filters": [
            {"kind": "drawdown", "max_drawdown": 0.2},
            {"kind": "any_of", "filters": [{"kind": "time_of_day", "blocked_hours": [0, 1]}]},
        ],
    }
    assert build_filter(spec) == AllOf(
        (DrawdownFilter(max_drawdown=0.2), AnyOf((TimeOfDayFilter(blocked_hours=(0, 1)),)))
    )
    voter = build_voter({"kind": "weighted", "weights": [2, 1]})
    assert voter == WeightedVote(weights=(2, 1))
    np.testing.assert_allclose(voter.combine(np.array([[1.0], [-1.0]])), [1 / 3])


def test_every_registered_kind_builds_with_its_defaults():
    assert all(build_sizer({"kind": kind}) is not None for kind in SIZERS)
    assert all(build_filter({"kind": kind}) is not None for kind in FILTERS)


def test_bad_specs_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown sizer kind 'kely' \(known: fixed_fraction"):
        build_sizer({"kind": "kely"})
    with pytest.raises(
        ValueError, match=r"sizer 'kelly': .*unexpected keyword argument 'fraction'"
    ):
        build_sizer({"kind": "kelly", "fraction": 0.5})
    with pytest.raises(ValueError, match="needs a list of 'filters'"):
        build_filter({"kind": "any_of"})
    with pytest.raises(ValueError, match="max_drawdown 2"):
        build_filter({"kind": "drawdown", "max_drawdown": 2})
