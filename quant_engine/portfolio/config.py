"""The portfolio-construction rules shared by backtests, the simulator and the live rebalance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["long_only", "long_short"]
Allocation = Literal["cross_sectional", "per_symbol"]


@dataclass(frozen=True)
class ConstructionConfig:
    """How scores become target weights and target weights become trades.

    ``cross_sectional``: rank the names each cycle, hold the top ``top_k`` (and, long/short, the
    bottom ``top_k`` short) equally weighted, rebalanced to target every cycle.
    ``per_symbol``: every name owns an equal sleeve of capital and is all in (score above
    ``threshold``), all out, or (long/short) all short; a sleeve trades only when its side
    changes, like one cash account per column.

    ``min_valid_scores``: a cycle with fewer eligible names with a finite score makes no
    targets (all weights 0) rather than piling the book into the few names left; the default
    (``None``) is half the book, ``ceil(top_k / 2)`` (1 for per-symbol sleeves): a top-10 book
    is made from 5 valid scores or more, never from 1 of 20.
    """

    mode: Mode = "long_short"
    allocation: Allocation = "cross_sectional"
    top_k: int = 10
    threshold: float | None = None  # scores at or below it (long side) are not selected
    max_weight: float = 1.0  # cap on |weight| per name; the excess stays in cash
    max_volume_share: float | None = None  # size risk: |position| <= share x dollar ADV
    min_trade_value: float = 0.0  # skip trades smaller than this notional (currency)
    dust_weight: float = 0.0  # close positions whose target |weight| is below this
    reserve_costs: bool | None = None  # size entries so linear costs come out of the target
    min_valid_scores: int | None = None  # fewer eligible finite scores: no targets that cycle
    cash_buffer: float = 0.0  # share of equity held back in cash (costs, slippage) when sizing
    lot_size: float = 0.0  # shares per lot of every name the caller gives no lots for (0: any)

    def __post_init__(self) -> None:
        if self.mode not in ("long_only", "long_short"):
            raise ValueError(f"unknown mode {self.mode!r}: use long_only or long_short")
        if self.allocation not in ("cross_sectional", "per_symbol"):
            raise ValueError(
                f"unknown allocation {self.allocation!r}: use cross_sectional or per_symbol"
            )
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if not 0 < self.max_weight <= 1:
            raise ValueError(f"max_weight must be in (0, 1], got {self.max_weight}")
        if self.max_volume_share is not None and self.max_volume_share <= 0:
            raise ValueError(f"max_volume_share must be positive, got {self.max_volume_share}")
        if self.min_valid_scores is not None and self.min_valid_scores < 1:
            raise ValueError(f"min_valid_scores must be at least 1, got {self.min_valid_scores}")
        if not (self.min_trade_value >= 0 and self.dust_weight >= 0):  # NaN fails too
            raise ValueError("min_trade_value and dust_weight must be non-negative")
        if not self.lot_size >= 0:  # NaN fails too
            raise ValueError(f"lot_size must be non-negative, got {self.lot_size}")
        if not 0 <= self.cash_buffer < 1:
            raise ValueError(f"cash_buffer must be in [0, 1), got {self.cash_buffer}")

    @property
    def valid_scores_needed(self) -> int:
        """The fewest eligible finite scores a cycle needs to make targets."""
        if self.min_valid_scores is not None:
            return self.min_valid_scores
        if self.allocation == "per_symbol":
            return 1
        return -(-self.top_k // 2)

    @property
    def sizes_with_costs(self) -> bool:
        """Whether entries reserve their linear costs (default: per-symbol sleeves do)."""
        if self.reserve_costs is None:
            return self.allocation == "per_symbol"
        return self.reserve_costs
