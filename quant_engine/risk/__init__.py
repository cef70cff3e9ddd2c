"""The risk gate: pre-trade limits, kill switch, REDUCE-only and shadow mode around a broker."""

from quant_engine.risk.config import RiskConfig
from quant_engine.risk.errors import RiskRejected, RiskStateError
from quant_engine.risk.gate import RiskGate
from quant_engine.risk.shadow import VirtualBook
from quant_engine.risk.state import RiskState, initialise_risk_state

__all__ = [
    "RiskConfig",
    "RiskGate",
    "RiskRejected",
    "RiskState",
    "RiskStateError",
    "VirtualBook",
    "initialise_risk_state",
]
