"""Load a directory of per-symbol bar files (CSV or Parquet) into the canonical schema.

Each file is named after its symbol (``AAPL.csv``, ``BTC-USD.parquet``) and has the columns
``timestamp,open,high,low,close,volume``. Naive timestamps are taken as UTC.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from quant_engine.data.schema import BAR_COLUMNS, PRICE_COLUMNS, ROW, BarValidationError
from quant_engine.data.schema import validate_bars as _validate

FILE_COLUMNS = [c for c in BAR_COLUMNS if c != "symbol"]
SUFFIXES = (".csv", ".parquet")


def _read(path: Path) -> pl.DataFrame:
    if path.stat().st_size == 0:
        raise BarValidationError(str(path), "file is empty")
    try:
        if path.suffix == ".csv":
            return pl.read_csv(path, infer_schema=False)
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise BarValidationError(str(path), f"cannot be read: {exc}") from exc


def _parse_timestamps(column: pl.Series) -> pl.Series:
    if column.dtype == pl.String:
        column = column.str.strip_chars().str.to_datetime(strict=False, time_unit="us")
    elif column.dtype == pl.Date:
        column = column.cast(pl.Datetime("us"))
    if not isinstance(column.dtype, pl.Datetime):
        return pl.Series(column.name, [None] * len(column), dtype=pl.Datetime("us", "UTC"))
    if column.dtype.time_zone is None:
        return column.dt.replace_time_zone("UTC")
    return column.dt.convert_time_zone("UTC")


def _coerce(raw: pl.DataFrame, source: str) -> pl.DataFrame:
    """Cast file columns to the schema, naming the first value that does not parse."""
    frame = raw.with_row_index(ROW, offset=1)
    parsed = frame.with_columns(
        _parse_timestamps(frame["timestamp"]).alias("timestamp"),
        *(pl.col(c).cast(pl.Float64, strict=False) for c in (*PRICE_COLUMNS, "volume")),
    )
    for column in FILE_COLUMNS:
        original = frame[column]
        if original.dtype == pl.String:
            original = original.str.strip_chars().replace("", None)
        failed = original.is_not_null() & parsed[column].is_null()
        if failed.any():
            index = failed.arg_true()
            kind = "a timestamp" if column == "timestamp" else "a number"
            value = original[int(index[0])]
            raise BarValidationError(
                source,
                f"value {value!r} is not {kind}",
                row=int(index[0]) + 1,
                column=column,
                value=value,
                more=len(index) - 1,
            )
    return parsed


def load_bar_file(path: str | Path, symbol: str | None = None) -> pl.DataFrame:
    """Load and validate one symbol's bar file."""
    path = Path(path)
    raw = _read(path)
    missing = [c for c in FILE_COLUMNS if c not in raw.columns]
    if missing:
        raise BarValidationError(
            str(path),
            f"missing column(s) {', '.join(repr(c) for c in missing)}"
            f" (found: {', '.join(raw.columns) or 'none'})",
        )
    if raw.height == 0:
        raise BarValidationError(str(path), "file is empty (no data rows)")
    frame = _coerce(raw.select(FILE_COLUMNS), str(path))
    frame = frame.with_columns(pl.lit(symbol or path.stem).alias("symbol"))
    return _validate(frame, source=str(path))


def load_bar_directory(directory: str | Path) -> pl.DataFrame:
    """Load every ``*.csv`` / ``*.parquet`` file of ``directory`` as one canonical bar frame."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BarValidationError(str(directory), "is not a directory")
    files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise BarValidationError(str(directory), "contains no .csv or .parquet bar files")
    seen: dict[str, Path] = {}
    for path in files:
        if path.stem in seen:
            raise BarValidationError(
                str(path), f"symbol {path.stem!r} is also defined by {seen[path.stem]}"
            )
        seen[path.stem] = path
    return pl.concat([load_bar_file(p) for p in files]).sort("symbol", "timestamp")
