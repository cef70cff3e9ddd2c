"""Price impact and slippage of one child order, as a fraction of the price.

A model sees the child's quantity and a :class:`BarState`: the bar it trades in (its volume
caps what can fill under ``VolumeShare``) and pre-trade estimates made before the parent
started (daily volatility, average daily volume). Temporary impact is paid by the child only;
permanent impact (Kyle's lambda) also moves the price every later child pays.

:func:`child_impact` is the per-child form of the engine's one
:class:`~quant_engine.backtest.costs.CostModel` (half spread plus square-root or linear impact);
the models' defaults are that cost model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from quant_engine.backtest.costs import CostModel

_COSTS = CostModel()  # the one cost model's defaults


class BarState(NamedTuple):
    price: float  # the child's reference price before costs
    volume: float  # volume of the bar the child trades in
    sigma: float  # daily return volatility, estimated before the parent started
    adv: float  # average daily volume (shares), estimated before the parent started


class Impact(NamedTuple):
    filled: int
    temporary: float  # fraction of price paid by this child only
    permanent: float  # fraction the price moves for this and every later child


class ImpactModel(Protocol):
    def impact(self, qty: int, bar: BarState) -> Impact: ...


def _check_non_negative(model: object, **values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{type(model).__name__}: {name} must be non-negative, got {value}")


@dataclass(frozen=True)
class FixedSpread:
    """Cross half the bid-ask spread: a constant ``half_spread_bps``."""

    half_spread_bps: float = _COSTS.half_spread_bps

    def __post_init__(self) -> None:
        _check_non_negative(self, half_spread_bps=self.half_spread_bps)

    def impact(self, qty: int, bar: BarState) -> Impact:
        return Impact(qty, self.half_spread_bps / 1e4, 0.0)


@dataclass(frozen=True)
class LinearImpact:
    """Cost proportional to participation in daily volume: ``coef * qty / adv``."""

    coef: float = _COSTS.impact_coef

    def __post_init__(self) -> None:
        _check_non_negative(self, coef=self.coef)

    def impact(self, qty: int, bar: BarState) -> Impact:
        return Impact(qty, self.coef * qty / bar.adv, 0.0)


@dataclass(frozen=True)
class SquareRootImpact:
    """The square-root law: ``coef * sigma * sqrt(qty / adv)``."""

    coef: float = _COSTS.impact_coef

    def __post_init__(self) -> None:
        _check_non_negative(self, coef=self.coef)

    def impact(self, qty: int, bar: BarState) -> Impact:
        return Impact(qty, self.coef * bar.sigma * math.sqrt(qty / bar.adv), 0.0)


@dataclass(frozen=True)
class KyleLambda:
    """Kyle's lambda: signed flow moves the price permanently by ``lam`` currency per share."""

    lam: float = 1e-6

    def __post_init__(self) -> None:
        _check_non_negative(self, lam=self.lam)

    def impact(self, qty: int, bar: BarState) -> Impact:
        return Impact(qty, 0.0, self.lam * qty / bar.price)


@dataclass(frozen=True)
class VolumeShare:
    """Fill at most ``volume_limit`` of the bar's volume; cost ``price_impact * share ** 2``
    where ``share`` is the filled part of the bar's volume."""

    volume_limit: float = 0.025
    price_impact: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.volume_limit <= 1:
            raise ValueError(
                f"VolumeShare: volume_limit must be in (0, 1], got {self.volume_limit}"
            )
        _check_non_negative(self, price_impact=self.price_impact)

    def impact(self, qty: int, bar: BarState) -> Impact:
        filled = min(qty, math.floor(self.volume_limit * bar.volume))
        share = filled / bar.volume if bar.volume > 0 else 0.0
        return Impact(filled, self.price_impact * share**2, 0.0)


@dataclass(frozen=True)
class CompositeImpact:
    """Several models at once: the smallest fill any of them allows, their costs added."""

    models: tuple[ImpactModel, ...]

    def impact(self, qty: int, bar: BarState) -> Impact:
        filled = qty
        for model in self.models:
            filled = min(filled, model.impact(filled, bar).filled)
        parts = [model.impact(filled, bar) for model in self.models]
        return Impact(filled, sum(p.temporary for p in parts), sum(p.permanent for p in parts))


def child_impact(costs: CostModel) -> CompositeImpact:
    """``costs`` (less its commission) per child: half the spread plus its impact law.

    A child of ``qty`` shares at ``price`` pays ``qty * price * temporary``, which is
    ``costs.cost(qty * price, sigma, adv * price)`` less the commission: a parent done in one
    child costs what the backtest charges for the same trade.
    """
    law: ImpactModel = (
        SquareRootImpact(costs.impact_coef)
        if costs.impact_model == "square_root"
        else LinearImpact(costs.impact_coef)
    )
    return CompositeImpact((FixedSpread(costs.half_spread_bps), law))
