"""What every backtest of a book depends on: capital, costs, portfolio rules, risk window, marks.

Both simulators take a :class:`BookConfig`: the vectorized backtest reads nothing else, the
event-driven simulator's :class:`~quant_engine.simulation.SimulationConfig` is one with the
simulator's own settings added. A config is passed one way, never converted between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from quant_engine.backtest.costs import CostModel
from quant_engine.portfolio import ConstructionConfig

Mark = Literal["ffill", "exact"]
MARKS = ("ffill", "exact")


def check_mark(mark: str) -> None:
    """``ffill``: a held name without a bar is valued at its last known price. ``exact``: an
    equity point where a held name has no bar is not re-marked (it repeats the last one); the
    move over the gap is booked when the name's next bar arrives. Neither trades such a name."""
    if mark not in MARKS:
        raise ValueError(f"unknown mark {mark!r}: use ffill or exact")


@dataclass(frozen=True)
class BookConfig:
    """Starting capital, the cost model, the portfolio rules, the bars of volatility and ADV
    history (impact, size risk) and how a held name without a bar is marked."""

    capital: float = 10_000_000.0
    costs: CostModel = field(default_factory=CostModel)
    portfolio: ConstructionConfig = field(default_factory=ConstructionConfig)
    risk_window: int = 20
    mark: Mark = "ffill"

    def __post_init__(self) -> None:
        check_mark(self.mark)
        if not 0 < self.capital <= 1e15:  # NaN and inf fail too
            raise ValueError(f"capital must be a positive amount up to 1e15, got {self.capital!r}")
        if self.risk_window < 2:
            raise ValueError(f"risk_window must be at least 2, got {self.risk_window}")
