"""Implementation shortfall of an executed parent order against its arrival price (Perold)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from quant_engine.orderbook.types import Side

# Besides ``timestamp`` (the bar's, or the book's integer clock), one row per child.
CHILD_COLUMNS = {
    "child_qty": pl.Int64,
    "filled_qty": pl.Int64,
    "reference_price": pl.Float64,
    "price": pl.Float64,
    "commission": pl.Float64,
}


Amount = TypeVar("Amount")  # a float, or a numpy array of one value per parent


def shortfall_parts(
    sign: Amount,
    benchmark: Amount,
    filled: Amount,
    paid: Amount,
    missed: Amount,
    missed_value: Amount,
) -> tuple[Amount, Amount]:
    """Perold's shortfall in currency against ``benchmark``, less the fees: (execution: what
    the ``filled`` shares ``paid`` above it; opportunity: the ``missed`` shares valued at
    ``missed_value`` instead of it), with ``sign`` +1 for buys, -1 for sells."""
    return sign * (paid - filled * benchmark), sign * (missed_value - missed * benchmark)


@dataclass(frozen=True)
class ParentOrder:
    """Buy or sell ``quantity`` shares, decided at ``start`` (the parent's arrival time)."""

    side: Side
    quantity: int
    start: object  # a timestamp of the market the parent runs on

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"parent quantity must be positive, got {self.quantity}")

    @property
    def sign(self) -> int:
        return 1 if self.side == Side.BUY else -1


@dataclass(frozen=True)
class ExecutionReport:
    """Children as executed and the shortfall in bps of the parent's arrival notional:
    ``shortfall = execution (price paid vs arrival) + commission + opportunity (unfilled part
    valued at the last price)``."""

    algorithm: str
    parent: ParentOrder
    arrival_price: float
    final_price: float
    children: pl.DataFrame  # timestamp + CHILD_COLUMNS, one row per slot

    @property
    def filled(self) -> int:
        return int(self.children["filled_qty"].sum())

    @property
    def unfilled(self) -> int:
        return self.parent.quantity - self.filled

    @property
    def average_price(self) -> float:
        f = self.children
        return float((f["filled_qty"] * f["price"]).sum() / self.filled) if self.filled else 0.0

    def _bps(self, cost: float) -> float:
        return cost / (self.parent.quantity * self.arrival_price) * 1e4

    def _parts(self) -> tuple[float, float]:
        f = self.children
        paid = float((f["filled_qty"] * f["price"]).sum())
        return shortfall_parts(
            self.parent.sign,
            self.arrival_price,
            self.filled,
            paid,
            self.unfilled,
            self.unfilled * self.final_price,
        )

    @property
    def execution_bps(self) -> float:
        return self._bps(self._parts()[0])

    @property
    def commission_bps(self) -> float:
        return self._bps(float(self.children["commission"].sum()))

    @property
    def opportunity_bps(self) -> float:
        return self._bps(self._parts()[1]) + 0.0  # no -0.0

    @property
    def shortfall_bps(self) -> float:
        return self.execution_bps + self.commission_bps + self.opportunity_bps

    def summary(self) -> dict[str, float | int | str]:
        return {
            "algorithm": self.algorithm,
            "parent_qty": self.parent.quantity,
            "filled_qty": self.filled,
            "arrival_price": self.arrival_price,
            "average_price": self.average_price,
            "execution_bps": self.execution_bps,
            "commission_bps": self.commission_bps,
            "opportunity_bps": self.opportunity_bps,
            "shortfall_bps": self.shortfall_bps,
        }
