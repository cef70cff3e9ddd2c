"""Build strategy components from plain mappings (as read from a YAML run config).

A spec names its component with ``kind`` and gives the component's fields beside it, e.g.
``{"kind": "kelly", "kelly_multiplier": 0.5}``; lists become tuples. Filters nest:
``{"kind": "all_of", "filters": [{"kind": "drawdown", "max_drawdown": 0.1}, ...]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quant_engine.strategy.aggregation import (
    AnyVote,
    MajorityVote,
    SignalVoter,
    UnanimousVote,
    WeightedVote,
)
from quant_engine.strategy.filters import (
    AllOf,
    AnyOf,
    CorrelationFilter,
    DrawdownFilter,
    EntryFilter,
    GridSpacingFilter,
    PriceDistanceFilter,
    RegimeFilter,
    SignalAccuracyFilter,
    TimeOfDayFilter,
    VolatilityFilter,
)
from quant_engine.strategy.sizing import (
    FixedFractionSizer,
    KellySizer,
    MartingaleSizer,
    PositionSizer,
    RiskParitySizer,
    SignalStrengthSizer,
    VolatilityTargetSizer,
)

SIZERS: dict[str, type] = {
    "fixed_fraction": FixedFractionSizer,
    "signal_strength": SignalStrengthSizer,
    "kelly": KellySizer,
    "volatility_target": VolatilityTargetSizer,
    "risk_parity": RiskParitySizer,
    "martingale": MartingaleSizer,
}
FILTERS: dict[str, type] = {
    "regime": RegimeFilter,
    "volatility": VolatilityFilter,
    "drawdown": DrawdownFilter,
    "correlation": CorrelationFilter,
    "time_of_day": TimeOfDayFilter,
    "price_distance": PriceDistanceFilter,
    "grid_spacing": GridSpacingFilter,
    "signal_accuracy": SignalAccuracyFilter,
}
COMPOSITES: dict[str, type] = {"all_of": AllOf, "any_of": AnyOf}
VOTERS: dict[str, type] = {
    "majority": MajorityVote,
    "weighted": WeightedVote,
    "unanimous": UnanimousVote,
    "any": AnyVote,
}


def _build(role: str, table: Mapping[str, type], spec: Mapping[str, Any]) -> Any:
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in table:
        raise ValueError(f"unknown {role} kind {kind!r} (known: {', '.join(sorted(table))})")
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    try:
        return table[kind](**params)
    except TypeError as error:
        raise ValueError(f"{role} {kind!r}: {error}") from None


def build_sizer(spec: Mapping[str, Any]) -> PositionSizer:
    """A position sizer from ``{"kind": ..., **fields}``."""
    return _build("sizer", SIZERS, spec)


def build_filter(spec: Mapping[str, Any]) -> EntryFilter:
    """An entry filter (or an ``all_of`` / ``any_of`` composite of them) from a spec."""
    if spec.get("kind") in COMPOSITES:
        inner = spec.get("filters")
        if not isinstance(inner, list | tuple):
            raise ValueError(f"filter {spec['kind']!r} needs a list of 'filters'")
        return COMPOSITES[spec["kind"]](tuple(build_filter(f) for f in inner))
    return _build("filter", FILTERS, spec)


def build_voter(spec: Mapping[str, Any]) -> SignalVoter:
    """A signal voter from ``{"kind": ..., **fields}``."""
    return _build("voter", VOTERS, spec)
