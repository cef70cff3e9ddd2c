"""The component strategy: detectors -> aggregation -> entry rule (filters, sizer, caps) -> exits.

At each close every detector (a simulator strategy such as :class:`SmaCrossover` or
:class:`Momentum`) votes the sign of its score for each symbol where it is eligible (0
elsewhere, and everywhere when it has no signal yet); the voter combines the votes into one
signed strength per symbol. A held position whose side the combined signal no longer calls is
closed (reason ``signal``) when ``exit_on_signal``; symbols the signal calls and that are not
held on that side are the entry candidates, which the :class:`SignalEntryRule` filters (its
``entry_filter``, reading the account's context: bars, holdings, cash, equity curve), caps and
sizes (with each symbol's volatility over ``volatility_window`` bars) into orders (reason
``entry``). The simulator fills them at the next fill point and applies ``exits`` (stop-loss,
take-profit, trailing stop, time) to the positions inside each bar, at their level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quant_engine.simulation.account import Account
from quant_engine.simulation.events import BarSnapshot
from quant_engine.simulation.risk import RollingRisk
from quant_engine.simulation.strategies import Strategy
from quant_engine.strategy.aggregation import MajorityVote, SignalVoter
from quant_engine.strategy.entry import EntryPlan, SignalEntryRule
from quant_engine.strategy.exits import ExitRules
from quant_engine.strategy.model import Decisions, OrderIntent


@dataclass
class ComponentStrategy:
    """Detectors voting, a voter, an entry rule and exit rules, run by the simulator.

    ``history`` is how many bars (the latest) the entry filters see; it must cover the
    longest filter lookback. ``last_plan`` is the entry rule's last plan (orders and why the
    other candidates got none).
    """

    signals: tuple[Strategy, ...]
    entry: SignalEntryRule
    aggregate: SignalVoter = field(default_factory=MajorityVote)
    exits: ExitRules | None = None
    exit_on_signal: bool = True
    volatility_window: int = 20
    history: int = 250
    last_plan: EntryPlan | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.signals = tuple(self.signals)
        if not self.signals:
            raise ValueError("a component strategy needs at least one signal detector")
        if self.volatility_window < 2 or self.history < 2:
            raise ValueError("volatility_window and history must be at least 2 bars")

    def start(self, symbols: list[str]) -> None:
        for detector in self.signals:
            detector.start(symbols)
        self._symbols = list(symbols)
        self._risk = RollingRisk(self.volatility_window, len(symbols))
        self.last_plan = None

    def votes(self, bar: BarSnapshot) -> np.ndarray:
        """Each detector's vote per symbol this bar: (detectors x symbols), in {-1, 0, 1}."""
        rows = []
        for detector in self.signals:
            signal = detector.on_bar(bar)
            if signal is None:
                rows.append(np.zeros(len(self._symbols)))
                continue
            valid = signal.eligible & np.isfinite(signal.scores)
            rows.append(np.where(valid, np.sign(np.nan_to_num(signal.scores)), 0.0))
        return np.vstack(rows)

    def on_close(self, bar: BarSnapshot, account: Account) -> Decisions | None:
        signal = self.aggregate.combine(self.votes(bar))
        self._risk.update(bar.close, bar.volume)
        held = account.shares
        priced = np.isfinite(bar.close)
        side = np.sign(signal)
        stale = priced & (held != 0) & (side != np.sign(held))
        wanted = priced & (side != 0) & np.isfinite(self._risk.sigma) & (self._risk.sigma > 0)
        if not self.entry.add_to_positions:
            wanted &= side != np.sign(held)
        orders: list[OrderIntent] = []
        if wanted.any():
            names = self._symbols
            candidates = {names[j]: float(signal[j]) for j in np.flatnonzero(wanted)}
            volatility = {names[j]: float(self._risk.sigma[j]) for j in np.flatnonzero(wanted)}
            self.last_plan = self.entry.plan(account.context(self.history), candidates, volatility)
            orders.extend(self.last_plan.orders)
        if self.exit_on_signal and stale.any():
            reversed_ = {o.symbol for o in orders}
            orders.extend(
                OrderIntent(
                    self._symbols[j],
                    -float(held[j]),
                    f"signal: {type(self.aggregate).__name__} {signal[j]:+.3f} no longer calls "
                    f"the {'long' if held[j] > 0 else 'short'} side",
                )
                for j in np.flatnonzero(stale)
                if self._symbols[j] not in reversed_
            )
        if not orders:
            return None
        return Decisions(bar.timestamp, orders=tuple(orders))
