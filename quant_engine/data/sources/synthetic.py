"""The seeded synthetic market as a :class:`~quant_engine.data.sources.base.BarSource`.

Its sessions are weekdays without holidays (the ``"24/5"`` calendar). The market is
prefix-stable: more ``n_days`` extend the same bars, so a range can be served from any market
that covers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import lru_cache

import polars as pl

from quant_engine.data.calendars import BUSINESS_DAYS
from quant_engine.data.sources.base import Timeframe
from quant_engine.data.store import bar_day
from quant_engine.data.synthetic import (
    SyntheticMarket,
    SyntheticMarketConfig,
    generate_market,
    trading_days,
)


@lru_cache(maxsize=4)
def _market(config: SyntheticMarketConfig) -> SyntheticMarket:
    return generate_market(config)


class SyntheticSource:
    """Daily bars of the synthetic market described by ``config``."""

    name = "synthetic"
    calendar = BUSINESS_DAYS

    def __init__(self, config: SyntheticMarketConfig | None = None) -> None:
        self.config = config or SyntheticMarketConfig()

    @property
    def market(self) -> SyntheticMarket:
        """The generated market (cached per config)."""
        return _market(self.config)

    def days(self) -> list[date]:
        """Every session the market has, oldest first."""
        days = trading_days(self.config.start, self.config.n_days)
        return [d.item() for d in days]

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame:
        """Bars of sessions ``start <= day < end`` (end exclusive) for ``symbols`` (None: all)."""
        if timeframe != "1d":
            raise ValueError(f"synthetic source: only daily bars ('1d'), not {timeframe!r}")
        if end < start:
            raise ValueError(f"synthetic source: end {end} is before start {start}")
        bars = self.market.bars.filter(bar_day().is_between(start, end, closed="left"))
        if symbols is not None:
            bars = bars.filter(pl.col("symbol").is_in(list(symbols)))
        return bars.sort("symbol", "timestamp")
