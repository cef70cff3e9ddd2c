"""The gate's persisted state: kill switch, daily-loss baseline, high-water mark, shadow book.

Written atomically (temporary file, then rename) after every change. The gate fails closed: a
state file that cannot be read, or one missing for an account that has traded (``required``),
stops it instead of silently starting from zero (untripped). :func:`initialise_risk_state` is the
operator's explicit way to start a fresh state, recorded with who and why.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from quant_engine.io.atomic import write_json
from quant_engine.risk.errors import RiskStateError

log = logging.getLogger(__name__)


@dataclass
class RiskState:
    trading_day: str | None = None  # ISO date of the current daily-loss baseline
    day_start_equity: str | None = None  # Decimal as text
    high_water_mark: str | None = None
    last_equity: str | None = None  # the latest equity seen: tomorrow's baseline if none given
    kill_switch: bool = False
    kill_reason: str = ""
    tripped_at: str | None = None
    shadow: dict[str, Any] | None = None  # the shadow book, see VirtualBook.to_dict
    events: list[str] = field(default_factory=list)  # kill-switch trips and resets

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, required: bool = False) -> RiskState:
        """The state at ``path``; a fresh state where there is no file yet, unless ``required``
        (the account has traded, so its state must exist): then :class:`RiskStateError`."""
        path = Path(path)
        if not path.exists():
            if required:
                raise RiskStateError(
                    f"risk state file {path} is missing although the account has traded; the "
                    "gate sends nothing until an operator initialises it explicitly "
                    "(quant live init --account NAME --reason WHY)"
                )
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

    def trip(self, reason: str, at: str) -> bool:
        """Trip the kill switch (``at``: ISO time); False where it was tripped already."""
        if self.kill_switch:
            return False
        self.kill_switch, self.kill_reason, self.tripped_at = True, reason, at
        self.events.append(f"{at} tripped: {reason}")
        return True

    def reset(self, reason: str, at: str) -> None:
        """Reset the kill switch by hand (``reason`` is kept in the events)."""
        self.kill_switch, self.kill_reason, self.tripped_at = False, "", None
        self.events.append(f"{at} reset: {reason}")


def initialise_risk_state(
    path: str | os.PathLike[str], *, by: str, reason: str, at: str
) -> RiskState:
    """Write a fresh, untripped state at ``path`` (an operator's explicit act, kept in its
    events with ``by`` and ``reason``); refuses where a readable state exists already."""
    if not by.strip() or not reason.strip():
        raise ValueError("initialising a risk state needs who (by) and why (reason)")
    path = Path(path)
    if path.exists():
        try:
            json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass  # unreadable: replacing it is what the operator came to do
        else:
            raise RiskStateError(f"risk state file {path} exists; reset the kill switch instead")
    state = RiskState(events=[f"{at} initialised by {by}: {reason}"])
    state.save(path)
    log.warning("risk state %s initialised by %s: %s", path, by, reason)
    return state
