"""Execution: algorithms that slice a parent order, impact and commission models, and runners
against bars or the order book that report implementation shortfall vs the arrival price."""

from quant_engine.execution.algorithms import (
    POV,
    TWAP,
    VWAP,
    ExecutionAlgorithm,
    ImplementationShortfall,
    SliceContext,
    almgren_chriss_holdings,
    volume_profile,
)
from quant_engine.execution.bars import BarExecutionConfig, SymbolBars, run_on_bars
from quant_engine.execution.book import BookExecutionConfig, run_on_book
from quant_engine.execution.commission import (
    BpsCommission,
    CommissionModel,
    PerShare,
    TieredPerShare,
)
from quant_engine.execution.impact import (
    BarState,
    CompositeImpact,
    FixedSpread,
    Impact,
    ImpactModel,
    KyleLambda,
    LinearImpact,
    SquareRootImpact,
    VolumeShare,
    child_impact,
)
from quant_engine.execution.report import ExecutionReport, ParentOrder
from quant_engine.execution.study import StudyConfig, execution_cost_table, shortfall_summary

__all__ = [
    "POV",
    "TWAP",
    "VWAP",
    "BarExecutionConfig",
    "BarState",
    "BookExecutionConfig",
    "BpsCommission",
    "CommissionModel",
    "CompositeImpact",
    "ExecutionAlgorithm",
    "ExecutionReport",
    "FixedSpread",
    "Impact",
    "ImpactModel",
    "ImplementationShortfall",
    "KyleLambda",
    "LinearImpact",
    "ParentOrder",
    "PerShare",
    "SliceContext",
    "SquareRootImpact",
    "StudyConfig",
    "SymbolBars",
    "TieredPerShare",
    "VolumeShare",
    "almgren_chriss_holdings",
    "child_impact",
    "execution_cost_table",
    "run_on_bars",
    "run_on_book",
    "shortfall_summary",
    "volume_profile",
]
