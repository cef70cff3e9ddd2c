"""The per-cycle record of a decision, serialisable to JSON for reports and audits."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedTrade:
    symbol: str
    quantity: float  # shares, negative for sells
    price: float
    notional: float


@dataclass(frozen=True)
class CycleState:
    """What the decision core saw and decided in one cycle (AlphaModel-style diagnostics)."""

    timestamp: str
    raw_signals: dict[str, float]
    target_weights: dict[str, float]  # non-zero targets after selection and capping
    final_weights: dict[str, float]  # non-zero weights after dust, size risk and trade skips
    investable_equity: float
    accepted_investable_equity: float
    size_risk_discarded_value: float
    max_position_adjust: float
    skipped_trades: int
    trades: list[PlannedTrade] = field(default_factory=list)  # sells before buys

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Strict JSON: a value that is not a finite number (a NaN raw signal) is ``null``."""
        return json.dumps(_finite(self.to_dict()), sort_keys=True, allow_nan=False, default=str)

    @classmethod
    def from_json(cls, text: str) -> CycleState:
        raw = json.loads(text)
        raw["trades"] = [PlannedTrade(**t) for t in raw["trades"]]
        return cls(**raw)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float (nested in dicts and lists) replaced by None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return float(value) if isinstance(value, float) else value
