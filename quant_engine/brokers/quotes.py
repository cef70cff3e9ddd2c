"""Latest prices per symbol with their age, and the risk inputs the cost model needs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import polars as pl


@dataclass(frozen=True)
class Quote:
    """The last known price of a symbol, when it was seen, and its daily vol and dollar ADV."""

    price: Decimal
    as_of: datetime
    sigma: float | None = None
    adv: float | None = None

    def __post_init__(self) -> None:
        if self.price <= 0:
            raise ValueError(f"quote price {self.price} must be > 0")
        if self.as_of.tzinfo is None:
            raise ValueError(f"quote time {self.as_of} must be timezone-aware")


def quotes_from_bars(bars: pl.DataFrame, window: int = 20) -> dict[str, Quote]:
    """Each symbol's last close, stamped with its bar's timestamp (read as UTC when naive).

    ``sigma`` is the standard deviation of the last ``window`` daily log returns and ``adv`` the
    mean dollar volume of the last ``window`` bars, both known at that close.
    """
    missing = {"symbol", "timestamp", "close", "volume"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars lack column(s) {sorted(missing)}")
    last = (
        bars.sort("symbol", "timestamp")
        .with_columns(
            pl.col("close").log().diff().over("symbol").alias("log_return"),
            (pl.col("close") * pl.col("volume")).alias("dollar_volume"),
        )
        .group_by("symbol", maintain_order=True)
        .agg(
            pl.col("timestamp").last(),
            pl.col("close").last(),
            pl.col("log_return").tail(window).std().alias("sigma"),
            pl.col("dollar_volume").tail(window).mean().alias("adv"),
        )
    )
    quotes = {}
    for row in last.iter_rows(named=True):
        stamp = row["timestamp"]
        if not isinstance(stamp, datetime):
            stamp = datetime(stamp.year, stamp.month, stamp.day)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        sigma, adv = row["sigma"], row["adv"]
        quotes[row["symbol"]] = Quote(
            price=Decimal(str(row["close"])),
            as_of=stamp,
            sigma=None if sigma is None or math.isnan(sigma) else float(sigma),
            adv=None if adv is None or math.isnan(adv) or adv <= 0 else float(adv),
        )
    return quotes
