"""Portfolio construction: the one decision core every backtest and the live rebalance share."""

from quant_engine.portfolio.config import Allocation, ConstructionConfig, Mode
from quant_engine.portfolio.construction import target_weights, too_few_scores
from quant_engine.portfolio.decision import (
    BookState,
    DecisionCore,
    HoldingsPlan,
    Plan,
    cycle_state,
)
from quant_engine.portfolio.rebalance import WeightRebalance
from quant_engine.portfolio.state import CycleState, PlannedTrade

__all__ = [
    "Allocation",
    "BookState",
    "ConstructionConfig",
    "CycleState",
    "DecisionCore",
    "HoldingsPlan",
    "Mode",
    "Plan",
    "PlannedTrade",
    "WeightRebalance",
    "cycle_state",
    "target_weights",
    "too_few_scores",
]
