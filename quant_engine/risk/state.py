"""The gate's persisted state: kill switch, daily-loss baseline, high-water mark, shadow book.

Written atomically (temporary file, then rename) after every change; a state file that cannot
be read stops the gate instead of silently starting from zero.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quant_engine.io.atomic import write_json
from quant_engine.risk.errors import RiskStateError


@dataclass
class RiskState:
    trading_day: str | None = None  # ISO date of the current daily-loss baseline
    day_start_equity: str | None = None  # Decimal as text
    high_water_mark: str | None = None
    kill_switch: bool = False
    kill_reason: str = ""
    tripped_at: str | None = None
    shadow: dict[str, Any] | None = None  # the shadow book, see VirtualBook.to_dict
    events: list[str] = field(default_factory=list)  # kill-switch trips and resets

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RiskState:
        """The state at ``path``; a fresh state where there is no file yet."""
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            payload = json.loads(path.read_text())
            return cls(**payload)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise RiskStateError(
                f"risk state file {path} is unreadable ({error}); fix or remove it deliberately"
            ) from error

    def save(self, path: str | os.PathLike[str]) -> None:
        write_json(path, asdict(self))
