"""Split and dividend adjustment, with the adjustment factors kept as data.

Corporate actions are a frame of ``(symbol, ex_date, split_ratio, dividend)``: ``split_ratio``
4.0 is a 4-for-1 split (1.0: none), ``dividend`` the cash per share (after the split, when both
fall on one day). Prices before an ex-date are multiplied by the action's factor
``1 / split_ratio * (1 - dividend * split_ratio / previous raw close)`` and volumes by the split
ratio (backward adjustment: the latest prices stay as traded). :func:`adjust_bars` keeps the raw
values beside the adjusted ones, so the stored raw bars never change when an action arrives.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quant_engine.data.schema import BAR_COLUMNS, KEYS, PRICE_COLUMNS
from quant_engine.data.store import bar_day

ACTION_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "ex_date": pl.Date(),
    "split_ratio": pl.Float64(),
    "dividend": pl.Float64(),
}
RAW_PREFIX = "raw_"
FACTOR = "adj_factor"  # price factor applied to the bar (volume is divided by the split part)


class CorporateActionError(ValueError):
    """Bad corporate-action data, located by source, row and column."""


def empty_actions() -> pl.DataFrame:
    return pl.DataFrame(schema=ACTION_SCHEMA)


def validate_actions(actions: pl.DataFrame, source: str = "corporate actions") -> pl.DataFrame:
    """Check and cast ``actions``; raise naming the first bad row (1-based) and column."""
    missing = [c for c in ACTION_SCHEMA if c not in actions.columns]
    if missing:
        raise CorporateActionError(
            f"{source}: missing column(s) {', '.join(repr(c) for c in missing)}"
        )
    frame = actions.with_row_index("_row", offset=1)
    cast = frame.with_columns(
        pl.col("symbol").cast(pl.String, strict=False),
        pl.col("ex_date").cast(pl.String).str.to_date(strict=False)
        if actions.schema["ex_date"] == pl.String
        else pl.col("ex_date").cast(pl.Date, strict=False),
        pl.col("split_ratio").cast(pl.Float64, strict=False).fill_null(1.0)
        if actions.schema["split_ratio"] == pl.Null
        else pl.col("split_ratio").cast(pl.Float64, strict=False),
        pl.col("dividend").cast(pl.Float64, strict=False),
    )
    rules = [
        ("symbol", pl.col("symbol").is_null(), "missing symbol"),
        ("ex_date", pl.col("ex_date").is_null(), "not a date"),
        (
            "split_ratio",
            pl.col("split_ratio").is_null()
            | ~pl.col("split_ratio").is_finite()
            | (pl.col("split_ratio") <= 0),
            "not a positive split ratio",
        ),
        (
            "dividend",
            pl.col("dividend").is_null()
            | ~pl.col("dividend").is_finite()
            | (pl.col("dividend") < 0),
            "not a non-negative dividend",
        ),
        (
            "ex_date",
            pl.struct("symbol", "ex_date").is_duplicated(),
            "duplicate (symbol, ex_date): merge the actions of one day into one row",
        ),
    ]
    for column, bad, problem in rules:
        rows = cast.filter(bad)
        if rows.height:
            row = rows.row(0, named=True)
            value = frame.filter(pl.col("_row") == row["_row"])[column][0]
            raise CorporateActionError(
                f"{source}, row {row['_row']}, column '{column}': value {value!r} is {problem}"
            )
    return cast.select(list(ACTION_SCHEMA)).sort("symbol", "ex_date")


def load_actions(path: str | Path) -> pl.DataFrame:
    """Read corporate actions from a CSV or Parquet file and validate them."""
    path = Path(path)
    if not path.is_file():
        raise CorporateActionError(f"{path}: no such corporate-actions file")
    is_csv = path.suffix == ".csv"
    raw = pl.read_csv(path, infer_schema=False) if is_csv else pl.read_parquet(path)
    return validate_actions(raw, source=str(path))


def action_factors(bars: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """Each action with its price factor (needs the raw close of the bar before the ex-date)."""
    actions = validate_actions(actions)
    closes = bars.select(
        "symbol", bar_day().alias("day"), pl.col("close").alias("prev_close")
    ).sort("day")
    with_prev = actions.sort("ex_date").join_asof(
        closes,
        left_on="ex_date",
        right_on="day",
        by="symbol",
        strategy="backward",
        allow_exact_matches=False,
        check_sortedness=False,
    )
    dividend_part = (
        1 - pl.col("dividend") * pl.col("split_ratio") / pl.col("prev_close")
    ).fill_null(1.0)
    bad = with_prev.filter(dividend_part <= 0)
    if bad.height:
        row = bad.row(0, named=True)
        raise CorporateActionError(
            f"corporate actions: dividend {row['dividend']} of {row['symbol']} on"
            f" {row['ex_date']} is not below the previous close {row['prev_close']}"
        )
    return with_prev.select(
        *ACTION_SCHEMA,
        (dividend_part / pl.col("split_ratio")).alias("price_factor"),
    ).sort("symbol", "ex_date")


def adjust_bars(bars: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """Bars with split- and dividend-adjusted OHLCV, plus ``raw_*`` columns and ``adj_factor``.

    A bar's factor is the product of the factors of the symbol's actions with a later ex-date.
    """
    factors = action_factors(bars, actions)
    # Cumulative factors from the latest action backwards: a bar dated before an ex-date takes
    # the product of that action's factor and every later one.
    cumulative = (
        factors.sort("symbol", "ex_date", descending=[False, True])
        .with_columns(
            pl.col("price_factor").cum_prod().over("symbol").alias(FACTOR),
            pl.col("split_ratio").cum_prod().over("symbol").alias("_split"),
        )
        .select("symbol", "ex_date", FACTOR, "_split")
        .sort("ex_date")
    )
    joined = (
        bars.with_columns(bar_day().alias("_day"))
        .sort("_day")
        .join_asof(
            cumulative,
            left_on="_day",
            right_on="ex_date",
            by="symbol",
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .with_columns(pl.col(FACTOR).fill_null(1.0), pl.col("_split").fill_null(1.0))
    )
    return joined.select(
        "symbol",
        "timestamp",
        *(pl.col(c) * pl.col(FACTOR) for c in PRICE_COLUMNS),
        pl.col("volume") * pl.col("_split"),
        *(pl.col(c).alias(RAW_PREFIX + c) for c in (*PRICE_COLUMNS, "volume")),
        FACTOR,
    ).sort(KEYS)


def adjusted_only(bars: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    """The adjusted bars in the canonical schema (no raw columns), for research stages."""
    if actions.height == 0:
        return bars
    return adjust_bars(bars, actions).select(BAR_COLUMNS)
