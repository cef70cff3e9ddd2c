"""Load a directory of per-symbol bar files (CSV or Parquet) into the canonical schema.

Each file is named after its symbol (``AAPL.csv``, ``MSFT.CSV``, ``BTC-USD.parquet``; suffixes
in any case) and has the columns ``timestamp,open,high,low,close,volume``. Column names are
matched case- and space-insensitively, and the usual exports are understood: ``Date`` /
``Datetime`` / ``Time`` for the timestamp (Yahoo, Quandl, backtrader), ``Adj Close`` (used to
adjust the prices or dropped with a warning, by :attr:`FileLayout.adj_close`), and any other
column (``OpenInterest``, ``Ex-Dividend``) is dropped with a warning. Values are trimmed of
surrounding whitespace in CSV and Parquet alike.

Timestamps are parsed, never guessed: ISO 8601 dates and datetimes (with or without an offset;
naive ones are UTC), ``YYYYMMDD``, epoch seconds / milliseconds / microseconds / nanoseconds (by
their number of digits), or the user's ``timestamp_format`` (``"%m/%d/%Y"``). Anything else is
one :class:`BarValidationError` naming the file, row, value and the formats tried. Daily bars
(``session_timezone`` set) are labelled by their session date: a naive timestamp's own date, an
aware one's date in the exchange's time zone (``20:00-05:00`` stays that New York day, Tokyo
midnight stays its Tokyo day), except midnight UTC, the vendors' stamp of a session date
(Databento, epoch-second exports), which keeps its UTC date.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl

from quant_engine.data.schema import (
    BAR_COLUMNS,
    BAR_SCHEMA,
    PRICE_COLUMNS,
    ROW,
    SOURCE,
    BarValidationError,
)
from quant_engine.data.schema import validate_bars as _validate

log = logging.getLogger(__name__)

FILE_COLUMNS = [c for c in BAR_COLUMNS if c != "symbol"]
SUFFIXES = (".csv", ".parquet")  # matched case-insensitively
ALIASES = {"date": "timestamp", "datetime": "timestamp", "time": "timestamp"}
ADJ_CLOSE = "adj_close"
ADJ_ALIASES = {"adjclose", "adjustedclose"}
TRIED = "ISO 8601 date or datetime, YYYYMMDD, epoch s/ms/us/ns"
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?"
# epoch unit by number of digits: 9-10 seconds, 12-13 ms, 15-16 us, 18-19 ns (from 1973 on)
_EPOCH_UNITS = {9: "s", 10: "s", 12: "ms", 13: "ms", 15: "us", 16: "us", 18: "ns", 19: "ns"}


@dataclass(frozen=True)
class FileLayout:
    """How to read the files: the timestamp format, extra column names, ``Adj Close``, and the
    exchange time zone that labels daily bars (None: keep UTC instants, for intraday bars)."""

    timestamp_format: str | None = None  # e.g. "%m/%d/%Y"; None: the formats in TRIED
    columns: Mapping[str, str] = field(default_factory=dict)  # file column -> canonical name
    adj_close: Literal["drop", "adjust"] = "drop"  # "adjust": prices scaled by adj/close
    session_timezone: str | None = None


def is_bar_file(path: Path) -> bool:
    """A ``.csv`` / ``.parquet`` file (suffix in any case)."""
    return path.suffix.lower() in SUFFIXES and path.is_file()


def check_symbol(symbol: str) -> str:
    """``symbol`` if it can name a file of the directory (no path separator, not ``..``)."""
    if (
        not isinstance(symbol, str)
        or not symbol.strip()
        or any(c in symbol for c in "/\\\0")
        or symbol.strip(".") == ""
    ):
        raise BarValidationError(
            "symbols", f"symbol {symbol!r} is not a plain name (no path separators or '..')"
        )
    return symbol


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.stat().st_size == 0:
            raise BarValidationError(str(path), "file is empty")
        if path.suffix.lower() == ".csv":
            return pl.read_csv(path, infer_schema=False)
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BarValidationError(str(path), f"cannot be read: {problem}") from exc


def _key(name: str) -> str:
    """A column name compared ignoring case, spaces, dots, dashes and underscores (and a BOM)."""
    return re.sub(r"[\s._\-]", "", name.lstrip("\ufeff").lower())


def _rename(raw: pl.DataFrame, source: str, layout: FileLayout) -> pl.DataFrame:
    """Canonical column names (plus ``adj close``); other columns dropped with a warning."""
    user = {_key(k): v for k, v in layout.columns.items()}
    names: dict[str, str] = {}
    dropped = []
    for column in raw.columns:
        key = _key(column)
        name = user.get(key) or ALIASES.get(key) or key
        if name in ADJ_ALIASES:
            name = ADJ_CLOSE
        if name not in FILE_COLUMNS and name != ADJ_CLOSE:
            dropped.append(column)
            continue
        if name in names.values():
            other = next(k for k, v in names.items() if v == name)
            raise BarValidationError(source, f"columns {other!r} and {column!r} both give {name!r}")
        names[column] = name
    if ADJ_CLOSE in names.values() and layout.adj_close == "drop":
        dropped.append(next(k for k, v in names.items() if v == ADJ_CLOSE))
    if dropped:
        log.warning("%s: dropped column(s) %s", source, ", ".join(repr(c) for c in dropped))
    return raw.select([pl.col(k).alias(v) for k, v in names.items() if k not in dropped])


def _strip(column: pl.Series) -> pl.Series:
    return column.str.strip_chars().replace("", None) if column.dtype == pl.String else column


@dataclass(frozen=True)
class _Where:
    """Where each row of a batch of files came from: its file and its row in that file."""

    paths: list[str]
    files: pl.Series  # index into paths
    rows: pl.Series  # 1-based data row in its file


def _fail(source: _Where, column: str, values: pl.Series, bad: pl.Series, problem: str) -> None:
    """Raise for the first row marked ``bad``, naming its file, row, column and value."""
    if bad.any():
        first = int(bad.arg_true()[0])
        value = values[first]
        if isinstance(value, pl.Series):
            value = value.to_list()
        file = source.files[first]
        raise BarValidationError(
            source.paths[file],
            problem.replace("{value}", repr(value)),
            row=int(source.rows[first]),
            column=column,
            value=value,
            more=int((bad & (source.files == file)).sum()) - 1,
        )


def _parse_strings(values: pl.Series, source: _Where, layout: FileLayout) -> pl.Series:
    """Timestamps from text: the user's format, or one of the formats in TRIED."""
    present = values.is_not_null()
    if layout.timestamp_format:
        parsed = values.str.to_datetime(layout.timestamp_format, strict=False, time_unit="us")
        _fail(
            source,
            "timestamp",
            values,
            present & parsed.is_null(),
            f"value {{value}} is not a timestamp in timestamp_format {layout.timestamp_format!r}",
        )
        return parsed
    first = values.drop_nulls()
    first = first[0] if len(first) else ""
    families = [
        (rf"^{_ISO_DATE}$", "ISO 8601 date", "%Y-%m-%d"),
        (rf"^{_ISO_DATETIME}$", "ISO 8601 datetime", None),
        (r"^\d{8}$", "YYYYMMDD", "%Y%m%d"),
        (r"^\d+$", "epoch", "epoch"),
    ]
    family = next((f for f in families if re.match(f[0], first)), None)
    if family is None:
        _fail(
            source,
            "timestamp",
            values,
            present,
            f"value {{value}} is not a timestamp in a known format (tried {TRIED});"
            " set timestamp_format, e.g. '%m/%d/%Y'",
        )
    pattern, name, fmt = family
    _fail(
        source,
        "timestamp",
        values,
        present & ~values.str.contains(pattern).fill_null(True),
        f"value {{value}} is not a timestamp in the file's format ({name}, as in its first row;"
        f" tried {TRIED})",
    )
    if fmt == "epoch":
        return _parse_epoch(values.cast(pl.Int64, strict=False), values, source)
    if fmt is None:
        aware = values.str.contains(r"(Z|[+-]\d{2}(:?\d{2})?)$").fill_null(False)
        _fail(
            source,
            "timestamp",
            values,
            present & (aware != aware[int(present.arg_true()[0])]),
            "value {value} mixes timestamps with and without a UTC offset",
        )
        try:
            parsed = values.str.to_datetime(strict=False, time_unit="us")
        except pl.exceptions.PolarsError:
            parsed = pl.Series(values.name, [None] * len(values), dtype=pl.Datetime("us"))
    else:
        parsed = values.str.to_datetime(fmt, strict=False, time_unit="us")
    _fail(
        source,
        "timestamp",
        values,
        present & parsed.is_null(),
        f"value {{value}} is not a timestamp ({name})",
    )
    return parsed


def _parse_epoch(numbers: pl.Series, original: pl.Series, source: _Where) -> pl.Series:
    digits = numbers.abs().cast(pl.String).str.len_chars()
    units = {_EPOCH_UNITS.get(d) for d in digits.drop_nulls().unique().to_list()}
    if None in units or len(units) > 1:
        _fail(
            source,
            "timestamp",
            original,
            digits.is_not_null(),
            f"value {{value}} is not a timestamp: epoch numbers must have the digits of one"
            f" unit (10 seconds, 13 milliseconds, 16 microseconds, 19 nanoseconds; tried {TRIED})",
        )
    unit = units.pop() if units else "s"
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 1}[unit]
    micros = numbers // 1_000 if unit == "ns" else numbers * scale
    return micros.cast(pl.Datetime("us", "UTC"))


def _parse_timestamps(column: pl.Series, source: _Where, layout: FileLayout) -> pl.Series:
    """UTC timestamps; daily bars (``session_timezone``) labelled by their session date."""
    values = _strip(column)
    dtype = values.dtype
    if dtype == pl.String:
        parsed = _parse_strings(values, source, layout)
    elif dtype.is_integer():
        parsed = _parse_epoch(values.cast(pl.Int64), values, source)
    elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
        parsed = values
    else:
        _fail(
            source,
            "timestamp",
            values,
            pl.Series([True] * len(values)),
            f"value {{value}} is not a timestamp (column of type {dtype})",
        )
    is_date = parsed.dtype == pl.Date
    if is_date:
        parsed = parsed.cast(pl.Datetime("us"))
    parsed = parsed.cast(pl.Datetime(parsed.dtype.time_unit or "us", parsed.dtype.time_zone))
    naive = parsed.dtype.time_zone is None
    if layout.session_timezone is not None and not naive:
        utc = parsed.dt.convert_time_zone("UTC")
        local = parsed.dt.convert_time_zone(layout.session_timezone).dt.date()
        midnight = utc.dt.time().cast(pl.Int64)  # nanoseconds since midnight UTC
        parsed = (
            pl.select(pl.when(midnight == 0).then(utc.dt.date()).otherwise(local))
            .to_series()
            .cast(pl.Datetime("us"))
        )
        naive = True
    elif layout.session_timezone is not None:
        parsed = parsed.dt.date().cast(pl.Datetime("us"))
    parsed = parsed.dt.cast_time_unit("us")
    return parsed.dt.replace_time_zone("UTC") if naive else parsed.dt.convert_time_zone("UTC")


def _parse_numbers(column: pl.Series, source: _Where) -> pl.Series:
    name = column.name
    values = _strip(column)
    dtype = values.dtype
    if dtype == pl.String:
        parsed = values.cast(pl.Float64, strict=False)
        _fail(
            source,
            name,
            values,
            values.is_not_null() & parsed.is_null(),
            "value {value} is not a number",
        )
        return parsed
    if dtype.is_numeric():
        return values.cast(pl.Float64)
    _fail(
        source,
        name,
        values,
        pl.Series([True] * len(values)),
        f"value {{value}} is not a number (column of type {dtype})",
    )
    return values  # not reached


def _coerce(raw: pl.DataFrame, source: _Where, layout: FileLayout) -> pl.DataFrame:
    """Cast file columns to the schema, naming the first value that does not parse."""
    numbers = [c for c in (*PRICE_COLUMNS, "volume", ADJ_CLOSE) if c in raw.columns]
    frame = raw.with_columns(
        _parse_timestamps(raw["timestamp"], source, layout).alias("timestamp"),
        *(_parse_numbers(raw[c], source).alias(c) for c in numbers),
    )
    if ADJ_CLOSE in frame.columns:
        factor = pl.col(ADJ_CLOSE) / pl.col("close")
        frame = frame.with_columns(
            *(pl.col(c) * factor for c in PRICE_COLUMNS), pl.col("volume") / factor
        ).drop(ADJ_CLOSE)
    return frame


def _prepare(path: Path, layout: FileLayout) -> pl.DataFrame:
    """One file's columns under canonical names, checked for presence and rows."""
    original = _read(path)
    raw = _rename(original, str(path), layout)
    missing = [c for c in FILE_COLUMNS if c not in raw.columns]
    if missing:
        found = ", ".join(repr(c[:40]) for c in original.columns[:20]) or "none"
        raise BarValidationError(
            str(path), f"missing column(s) {', '.join(repr(c) for c in missing)} (found: {found})"
        )
    if raw.height == 0:
        raise BarValidationError(str(path), "file is empty (no data rows)")
    return raw


def _timestamp_kind(value: object) -> str:
    """The shape of a file's first timestamp, so that files alike are parsed as one."""
    if not isinstance(value, str):
        return type(value).__name__
    shape = re.sub(r"\d", "0", value.strip())
    return shape + ("+tz" if re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$", value.strip()) else "")


def _scan_csv_files(paths: list[Path], layout: FileLayout) -> pl.DataFrame | None:
    """CSV files sharing one header, read in one scan (None: read them one by one, for the
    per-file errors). Adds the file index (``_source``, in ``paths``) and the row in the file."""
    try:
        if any(p.stat().st_size == 0 for p in paths):
            return None
        raw = pl.scan_csv(
            [str(p) for p in paths], infer_schema=False, include_file_paths="_path"
        ).collect()
    except (pl.exceptions.PolarsError, OSError):
        return None
    if raw["_path"].n_unique() < len(paths):
        return None  # a file without rows
    index = {str(p): k for k, p in enumerate(paths)}
    source = pl.col("_path").replace_strict(index, return_dtype=pl.Int64)
    raw = raw.with_columns(source.alias(SOURCE)).drop("_path")
    renamed = _rename(raw.drop(SOURCE), f"{paths[0]} and {len(paths) - 1} more file(s)", layout)
    if any(c not in renamed.columns for c in FILE_COLUMNS):
        return None
    rows = pl.int_range(1, pl.len() + 1).over(SOURCE).alias(ROW)
    return renamed.with_columns(raw[SOURCE]).with_columns(rows)


def _units(files: Mapping[str, Path], layout: FileLayout) -> list[tuple[pl.DataFrame, bool]]:
    """The files' raw rows under canonical names, with ``symbol``, ``_source`` and ``_row``:
    CSV files with the same header in one frame each, every other file alone."""
    paths = [Path(p) for p in files.values()]
    symbols = list(files)
    headers: dict[bytes, list[int]] = {}
    alone = []
    for k, path in enumerate(paths):
        if path.suffix.lower() == ".csv":
            try:
                with open(path, "rb") as handle:
                    headers.setdefault(handle.readline(), []).append(k)
                continue
            except OSError:
                pass
        alone.append(k)
    units = []
    for indices in headers.values():
        scanned = _scan_csv_files([paths[k] for k in indices], layout) if len(indices) > 1 else None
        if scanned is None:
            alone += indices
            continue
        to_file = pl.col(SOURCE).replace_strict(dict(enumerate(indices)), return_dtype=pl.Int64)
        units.append((scanned.with_columns(to_file.alias(SOURCE)), True))
    for k in sorted(alone):
        raw = _prepare(paths[k], layout)
        units.append(
            (
                raw.with_columns(pl.lit(k, dtype=pl.Int64).alias(SOURCE)).with_row_index(
                    ROW, offset=1
                ),
                paths[k].suffix.lower() == ".csv",
            )
        )
    return [
        (
            unit.with_columns(
                pl.col(SOURCE).replace_strict(dict(enumerate(symbols))).alias("symbol")
            ),
            csv,
        )
        for unit, csv in units
    ]


def load_bar_files(files: Mapping[str, Path], layout: FileLayout | None = None) -> pl.DataFrame:
    """Load and validate the bar files of ``files`` (symbol -> path) as one canonical frame.

    CSV files with one header are read in one scan, and files alike (same columns, same shape
    of timestamps) are parsed in one pass; any bad value is one :class:`BarValidationError`
    naming its file, row, column and value.
    """
    layout = layout or FileLayout()
    paths = [str(path) for path in files.values()]
    groups: dict[tuple, list[pl.DataFrame]] = {}
    for unit, csv in _units(files, layout):
        if csv:  # blank lines of a CSV file are skipped
            columns = [c for c in unit.columns if c not in ("symbol", SOURCE, ROW)]
            blank = pl.all_horizontal(pl.col(columns).str.strip_chars().replace("", None).is_null())
            unit = unit.filter(~blank)
        stamp = pl.col("timestamp")
        if unit.schema["timestamp"] == pl.String:
            stamp = stamp.str.strip_chars().replace("", None)
        firsts = unit.group_by(SOURCE).agg(stamp.drop_nulls().first().alias("first"))
        kinds = {k: _timestamp_kind(v) for k, v in firsts.iter_rows()}
        parts = unit.with_columns(
            pl.col(SOURCE).replace_strict(kinds, return_dtype=pl.String).alias("_kind")
        ).partition_by("_kind", as_dict=True, include_key=False)
        for (kind,), part in parts.items():
            groups.setdefault((tuple(part.schema.items()), kind), []).append(part)
    batches = [pl.concat(frames).sort(SOURCE, ROW) for frames in groups.values()]
    coerced = [_coerce(b, _Where(paths, b[SOURCE], b[ROW]), layout) for b in batches]
    if not coerced:
        return pl.DataFrame(schema=BAR_SCHEMA)
    frame = pl.concat(coerced, how="diagonal_relaxed")
    return _validate(frame, source="bars", sources=paths)


def load_bar_file(
    path: str | Path, symbol: str | None = None, layout: FileLayout | None = None
) -> pl.DataFrame:
    """Load and validate one symbol's bar file."""
    path = Path(path)
    return load_bar_files({symbol or path.stem: path}, layout)


def bar_files(directory: str | Path) -> dict[str, Path]:
    """The directory's bar files by symbol (the file name without its suffix)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise BarValidationError(str(directory), "is not a directory")
    seen: dict[str, Path] = {}
    for path in sorted(p for p in directory.iterdir() if is_bar_file(p)):
        if path.stem in seen:
            raise BarValidationError(
                str(path), f"symbol {path.stem!r} is also defined by {seen[path.stem]}"
            )
        seen[path.stem] = path
    return seen


def load_bar_directory(directory: str | Path, layout: FileLayout | None = None) -> pl.DataFrame:
    """Load every ``*.csv`` / ``*.parquet`` file of ``directory`` as one canonical bar frame."""
    files = bar_files(directory)
    if not files:
        raise BarValidationError(str(directory), "contains no .csv or .parquet bar files")
    return load_bar_files(files, layout)
