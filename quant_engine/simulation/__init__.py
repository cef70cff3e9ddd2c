"""Event-driven simulation: time-ordered snapshots, strategy callbacks, fills, limits, artifacts."""

from quant_engine.simulation.account import Account, AccountStrategy, ModelStrategy
from quant_engine.simulation.artifacts import RunArtifacts
from quant_engine.simulation.book import Book, Fills
from quant_engine.simulation.capital import (
    CapitalPolicy,
    FullCapital,
    VolatilityScaled,
    capital_policy,
)
from quant_engine.simulation.components import ComponentStrategy
from quant_engine.simulation.daily import simulate_signals
from quant_engine.simulation.engine import SimulationConfig, SimulationResult, Simulator
from quant_engine.simulation.events import BarPanel, BarSnapshot, LookaheadError
from quant_engine.simulation.limits import RiskLimits
from quant_engine.simulation.strategies import (
    Momentum,
    PanelSignals,
    ScoreTable,
    Signal,
    SmaCrossover,
    Strategy,
    positions_from_signals,
)

__all__ = [
    "Account",
    "AccountStrategy",
    "BarPanel",
    "BarSnapshot",
    "Book",
    "CapitalPolicy",
    "ComponentStrategy",
    "Fills",
    "FullCapital",
    "LookaheadError",
    "ModelStrategy",
    "Momentum",
    "PanelSignals",
    "RiskLimits",
    "RunArtifacts",
    "ScoreTable",
    "Signal",
    "SimulationConfig",
    "SimulationResult",
    "Simulator",
    "SmaCrossover",
    "Strategy",
    "VolatilityScaled",
    "capital_policy",
    "positions_from_signals",
    "simulate_signals",
]
