"""The protocol every bar source speaks: bars for symbols over a date range, canonical schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal, Protocol, runtime_checkable

import polars as pl

Timeframe = Literal["1m", "5m", "15m", "1h", "1d"]


@runtime_checkable
class BarSource(Protocol):
    """A source of OHLCV bars (files, a synthetic market, a vendor's API).

    ``fetch`` returns bars in :data:`quant_engine.data.schema.BAR_SCHEMA`, sorted by
    (symbol, timestamp), for sessions with ``start <= day < end`` (end exclusive). ``symbols``
    None means the source's whole universe. A symbol without data in the range is simply absent;
    an empty range gives an empty frame with the schema. Paging, rate limits and retries are the
    source's own business.
    """

    name: str

    def fetch(
        self,
        symbols: Sequence[str] | None,
        start: date,
        end: date,
        timeframe: Timeframe = "1d",
    ) -> pl.DataFrame: ...
