"""Data-quality checks on canonical bars: each returns a :class:`Finding` (count and rows).

The checks never raise on bad data; they describe it, so that a pipeline can report every
problem at once (count plus example rows) and block what comes after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from quant_engine.data.calendars import TradingCalendar
from quant_engine.data.corporate_actions import adjusted_only
from quant_engine.data.schema import BAR_SCHEMA, KEYS, PRICE_COLUMNS
from quant_engine.data.store import bar_day


@dataclass(frozen=True)
class Finding:
    """What one check found: the offending rows (``count`` of them)."""

    check: str
    rows: pl.DataFrame

    @property
    def count(self) -> int:
        return self.rows.height

    @property
    def passed(self) -> bool:
        return self.rows.height == 0

    def examples(self, n: int = 10) -> pl.DataFrame:
        return self.rows.head(n)


def schema_problems(bars: pl.DataFrame) -> Finding:
    """Columns missing from or of the wrong type for the canonical bar schema."""
    rows = [
        {"column": name, "expected": str(dtype), "found": str(bars.schema.get(name, "missing"))}
        for name, dtype in BAR_SCHEMA.items()
        if bars.schema.get(name) != dtype
    ]
    schema = {"column": pl.String, "expected": pl.String, "found": pl.String}
    return Finding("schema", pl.DataFrame(rows, schema=schema))


def ohlc_inconsistencies(bars: pl.DataFrame) -> Finding:
    """Bars with a missing or non-positive price, negative volume, or open/close outside
    [low, high]; a ``problem`` column says which."""
    price_bad = pl.any_horizontal(
        *(pl.col(c).is_null() | ~pl.col(c).is_finite() | (pl.col(c) <= 0) for c in PRICE_COLUMNS)
    )
    problem = (
        pl.when(price_bad)
        .then(pl.lit("missing or non-positive price"))
        .when(pl.col("volume").is_null() | (pl.col("volume") < 0))
        .then(pl.lit("missing or negative volume"))
        .when(pl.col("high") < pl.col("low"))
        .then(pl.lit("high below low"))
        .when(~pl.col("open").is_between(pl.col("low"), pl.col("high")))
        .then(pl.lit("open outside [low, high]"))
        .when(~pl.col("close").is_between(pl.col("low"), pl.col("high")))
        .then(pl.lit("close outside [low, high]"))
    )
    rows = bars.with_columns(problem.alias("problem")).filter(pl.col("problem").is_not_null())
    return Finding("ohlc_consistency", rows.sort(KEYS))


def duplicate_bars(bars: pl.DataFrame) -> Finding:
    """Every row whose (symbol, timestamp) appears more than once."""
    return Finding("duplicates", bars.filter(pl.struct(KEYS).is_duplicated()).sort(KEYS))


def _sessions(calendar: TradingCalendar, start: date, end: date) -> pl.DataFrame:
    return calendar.sessions(start, end).select("day")


def off_calendar_bars(bars: pl.DataFrame, calendar: TradingCalendar) -> Finding:
    """Bars dated on a day that is not a session of ``calendar`` (a weekend, a holiday)."""
    if bars.height == 0:
        return Finding("non_trading_days", bars)
    dated = bars.with_columns(bar_day().alias("day"))
    first, last = dated["day"].min(), dated["day"].max()
    sessions = _sessions(calendar, first, last + timedelta(days=1))
    rows = dated.join(sessions, on="day", how="anti").sort(KEYS)
    return Finding("non_trading_days", rows)


def calendar_gaps(
    bars: pl.DataFrame,
    calendar: TradingCalendar,
    start: date | None = None,
    end: date | None = None,
) -> Finding:
    """(symbol, day) sessions without a bar, between each symbol's first and last bar.

    ``start`` / ``end`` (end exclusive) widen the window: a session in it with no bar at all,
    for any symbol, is reported with symbol ``None``.
    """
    schema = {"symbol": pl.String(), "day": pl.Date()}
    if bars.height == 0 and (start is None or end is None):
        return Finding("calendar_gaps", pl.DataFrame(schema=schema))
    dated = bars.select("symbol", bar_day().alias("day")).unique()
    lo = start or dated["day"].min()
    hi = end or dated["day"].max() + timedelta(days=1)
    sessions = _sessions(calendar, lo, hi)
    spans = dated.group_by("symbol").agg(
        pl.col("day").min().alias("first"), pl.col("day").max().alias("last")
    )
    expected = spans.join(sessions, how="cross").filter(
        pl.col("day").is_between(pl.col("first"), pl.col("last"))
    )
    missing = expected.join(dated, on=["symbol", "day"], how="anti").select(list(schema))
    empty_days = sessions.join(dated.select("day").unique(), on="day", how="anti").select(
        pl.lit(None, dtype=pl.String).alias("symbol"), "day"
    )
    rows = pl.concat([missing, empty_days]).unique().sort("day", "symbol", nulls_last=True)
    return Finding("calendar_gaps", rows)


def stale_symbols(bars: pl.DataFrame, max_flat_bars: int = 5) -> Finding:
    """Symbols whose close and volume stayed unchanged for ``max_flat_bars`` bars in a row
    (a feed repeating its last value); one row per symbol with the run's last bar."""
    ordered = bars.sort(KEYS)
    changed = (pl.col("close") != pl.col("close").shift(1)) | (
        pl.col("volume") != pl.col("volume").shift(1)
    )
    runs = ordered.with_columns(changed.fill_null(True).cum_sum().over("symbol").alias("_run"))
    rows = (
        runs.group_by("symbol", "_run")
        .agg(
            pl.len().alias("flat_bars"),
            pl.col("timestamp").min().alias("since"),
            pl.col("timestamp").max().alias("until"),
            pl.col("close").last(),
        )
        .filter(pl.col("flat_bars") >= max_flat_bars)
        .sort("symbol", "until")
        .group_by("symbol", maintain_order=True)
        .last()
        .drop("_run")
    )
    return Finding("stale_symbols", rows)


SPLIT_RATIOS: tuple[float, ...] = (2.0, 3.0, 1.5, 4.0, 5.0, 7.0, 10.0)  # and their inverses


def _split_ratio_names() -> dict[float, str]:
    names = {}
    for ratio in SPLIT_RATIOS:
        new, old = (3, 2) if ratio == 1.5 else (int(ratio), 1)
        names[1 / ratio] = f"{new}:{old} split"
        names[ratio] = f"1:{new} reverse split" if old == 1 else f"{old}:{new} reverse split"
    return names


def unexplained_jumps(
    bars: pl.DataFrame,
    max_abs_return: float,
    actions: pl.DataFrame | None = None,
    split_tolerance: float = 0.03,
) -> Finding:
    """Close-to-close moves that ``actions`` (splits, dividends) do not explain: beyond
    ``max_abs_return``, or within ``split_tolerance`` (relative) of a common split ratio
    (2, 3, 3/2, 4, 5, 7, 10 or an inverse), whatever the threshold: 100 -> 50.5 is a 2:1
    split on an up day. A 4-for-1 split with its action on file is no jump; without it, it is.
    A ``looks_like`` column names the split ratio a move is close to."""
    adjusted = adjusted_only(bars, actions) if actions is not None else bars
    ratio = pl.col("close") / pl.col("prev_close")
    looks_like = pl.lit(None, dtype=pl.String)
    for value, name in sorted(_split_ratio_names().items(), reverse=True):
        near = ((ratio / value) - 1).abs() <= split_tolerance
        looks_like = pl.when(near).then(pl.lit(name)).otherwise(looks_like)
    rows = (
        adjusted.sort(KEYS)
        .with_columns(pl.col("close").shift(1).over("symbol").alias("prev_close"))
        .with_columns((ratio - 1).alias("ret"), looks_like.alias("looks_like"))
        .filter((pl.col("ret").abs() > max_abs_return) | pl.col("looks_like").is_not_null())
        .select("symbol", "timestamp", "prev_close", "close", "ret", "looks_like")
    )
    return Finding("unexplained_jumps", rows)


def missing_symbols(
    bars: pl.DataFrame,
    requested: list[str] | None,
    stored: pl.DataFrame,
    has_sessions: bool,
) -> Finding:
    """Bars that would disappear: requested symbols the source returned no bar for (in a
    range with sessions), and stored bars of the range's days whose (symbol, day) the source no
    longer returns. One row per symbol with the reason and the number of stored bars at stake."""
    got = set(bars["symbol"].unique().to_list())
    keys = [pl.col("symbol"), bar_day().alias("day")]
    lost = stored.select(keys).join(bars.select(keys), on=["symbol", "day"], how="anti")
    counts = dict(lost.group_by("symbol").len().iter_rows())
    rows = [
        (symbol, "requested, but the source returned no bars", counts.pop(symbol, 0))
        for symbol in (sorted(set(requested or ()) - got) if has_sessions else [])
    ]
    rows += [(symbol, "stored on these days, but not returned", n) for symbol, n in counts.items()]
    schema = {"symbol": pl.String, "reason": pl.String, "stored_bars": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return Finding("missing_symbols", frame.sort("symbol"))


def short_histories(bars: pl.DataFrame, min_bars: int) -> Finding:
    """Symbols with fewer than ``min_bars`` bars."""
    rows = (
        bars.group_by("symbol")
        .agg(pl.len().alias("bars"))
        .filter(pl.col("bars") < min_bars)
        .sort("symbol")
    )
    return Finding("sufficient_history", rows)
